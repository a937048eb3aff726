//! Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`, and metav1 `LabelSelector`
//! objects) and field selectors (`metadata.name=x,spec.nodeName!=y`): parsed, matched and
//! printed like k8s.io/apimachinery's `labels` and `fields` packages.

use crate::error::{ApiError, go_quote, show_value};
use crate::names;
use crate::resources::ResourceInfo;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// A label requirement's operator (upstream's `selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One requirement: `key op values`, values sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// Upstream's `field.Error.Error()` for an invalid value: `field: Invalid value: v: detail`.
fn invalid(field: &str, value: &Value, detail: &str) -> String {
    format!("{field}: Invalid value: {}: {detail}", show_value(value))
}

/// Upstream's aggregate of field errors: one bare, several in brackets, duplicates dropped.
fn aggregate(errors: Vec<String>) -> Result<(), String> {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    match seen.len() {
        0 => Ok(()),
        1 => Err(seen.concat()),
        _ => Err(format!("[{}]", seen.join(", "))),
    }
}

/// `validateLabelKey` against a path (`<nil>` when the parser has none, as upstream prints).
fn validate_key(key: &str, path: &str) -> Result<(), String> {
    let problems = names::label_key(key);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid(
            path,
            &Value::String(key.into()),
            &problems.join("; "),
        ))
    }
}

impl Requirement {
    /// Upstream's `NewRequirement`: every rule checked, errors aggregated.
    fn new(key: &str, op: Op, mut values: Vec<String>) -> Result<Self, String> {
        let mut errors = Vec::new();
        if let Err(e) = validate_key(key, "key") {
            errors.push(e);
        }
        let shown = || {
            if values.is_empty() {
                Value::Null
            } else {
                Value::from(values.clone())
            }
        };
        match op {
            Op::In | Op::NotIn if values.is_empty() => errors.push(invalid(
                "values",
                &shown(),
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            Op::Equals | Op::DoubleEquals | Op::NotEquals if values.len() != 1 => {
                errors.push(invalid(
                    "values",
                    &shown(),
                    "exact-match compatibility requires one single value",
                ));
            }
            Op::Exists | Op::DoesNotExist if !values.is_empty() => errors.push(invalid(
                "values",
                &shown(),
                "values set must be empty for exists and does not exist",
            )),
            Op::GreaterThan | Op::LessThan => {
                if values.len() != 1 {
                    errors.push(invalid(
                        "values",
                        &shown(),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errors.push(invalid(
                            &format!("values[{i}]"),
                            &Value::String(v.clone()),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let problems = names::label_value(v);
            if !problems.is_empty() {
                errors.push(invalid(
                    &format!("values[{i}][{key}]"),
                    &Value::String(v.clone()),
                    &problems.join("; "),
                ));
            }
        }
        aggregate(errors)?;
        values.sort();
        values.dedup();
        Ok(Self {
            key: key.to_string(),
            op,
            values,
        })
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let got = labels.get(&self.key);
        match self.op {
            Op::Equals | Op::DoubleEquals | Op::In => got.is_some_and(|v| self.values.contains(v)),
            Op::NotEquals | Op::NotIn => got.is_none_or(|v| !self.values.contains(v)),
            Op::Exists => got.is_some(),
            Op::DoesNotExist => got.is_none(),
            Op::GreaterThan | Op::LessThan => {
                let (Some(got), [want]) = (got, self.values.as_slice()) else {
                    return false;
                };
                match (got.parse::<i64>(), want.parse::<i64>()) {
                    (Ok(g), Ok(w)) if self.op == Op::GreaterThan => g > w,
                    (Ok(g), Ok(w)) => g < w,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.values.join(",");
        match self.op {
            Op::Equals => write!(f, "{}={values}", self.key),
            Op::DoubleEquals => write!(f, "{}=={values}", self.key),
            Op::NotEquals => write!(f, "{}!={values}", self.key),
            Op::GreaterThan => write!(f, "{}>{values}", self.key),
            Op::LessThan => write!(f, "{}<{values}", self.key),
            Op::In => write!(f, "{} in ({values})", self.key),
            Op::NotIn => write!(f, "{} notin ({values})", self.key),
            Op::Exists => write!(f, "{}", self.key),
            Op::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

/// The lexer's tokens (upstream's `labels.Token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosedPar,
        "," => Tok::Comma,
        "!" => Tok::DoesNotExist,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::GreaterThan,
        "in" => Tok::In,
        "<" => Tok::LessThan,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Split a selector into tokens, as upstream's `Lexer` does.
fn lex(s: &str) -> Vec<(Tok, String)> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < b.len() && is_whitespace(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            out.push((Tok::EndOfString, String::new()));
            return out;
        }
        let start = pos;
        if is_special(b[pos]) {
            let mut last: Option<(Tok, usize)> = None;
            while pos < b.len() && is_special(b[pos]) {
                pos += 1;
                match keyword(&s[start..pos]) {
                    Some(t) => last = Some((t, pos)),
                    None if last.is_some() => {
                        pos -= 1;
                        break;
                    }
                    None => {}
                }
            }
            match last {
                Some((t, end)) => {
                    pos = end;
                    out.push((t, s[start..end].to_string()));
                }
                None => out.push((
                    Tok::Error,
                    format!("error expected: keyword found '{}'", &s[start..pos]),
                )),
            }
        } else {
            while pos < b.len() && !is_special(b[pos]) && !is_whitespace(b[pos]) {
                pos += 1;
            }
            let word = &s[start..pos];
            out.push((keyword(word).unwrap_or(Tok::Identifier), word.to_string()));
        }
    }
}

/// Whether `in`/`notin` are operators (after a key) or plain identifiers (keys, values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// Upstream's recursive-descent `labels.Parser`, with its error texts.
struct Parser {
    items: Vec<(Tok, String)>,
    position: usize,
}

impl Parser {
    fn item(&self, index: usize, context: Context) -> (Tok, String) {
        let (tok, lit) = self
            .items
            .get(index)
            .cloned()
            .unwrap_or((Tok::EndOfString, String::new()));
        match tok {
            Tok::In | Tok::NotIn if context == Context::Values => (Tok::Identifier, lit),
            _ => (tok, lit),
        }
    }

    fn lookahead(&self, context: Context) -> (Tok, String) {
        self.item(self.position, context)
    }

    fn consume(&mut self, context: Context) -> (Tok, String) {
        let item = self.item(self.position, context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Tok::Identifier | Tok::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Tok::EndOfString => return Ok(requirements),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Tok::Identifier && t2 != Tok::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!("found '{l}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                Tok::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Op::Exists | Op::DoesNotExist)) = op {
            return Requirement::new(&key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let mut values = match op {
            Op::In | Op::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        // upstream hands NewRequirement the value set as a sorted list
        values.sort();
        Requirement::new(&key, op, values)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Op>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Tok::DoesNotExist {
            op = Some(Op::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Tok::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        validate_key(&lit, "<nil>")?;
        let (next, _) = self.lookahead(Context::Values);
        if (next == Tok::EndOfString || next == Tok::Comma) && op != Some(Op::DoesNotExist) {
            op = Some(Op::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Op, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Tok::In => Op::In,
            Tok::Equals => Op::Equals,
            Tok::DoubleEquals => Op::DoubleEquals,
            Tok::GreaterThan => Op::GreaterThan,
            Tok::LessThan => Op::LessThan,
            Tok::NotIn => Op::NotIn,
            Tok::NotEquals => Op::NotEquals,
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Tok::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Tok::Identifier | Tok::Comma => {
                let values = self.parse_identifiers_list()?;
                let (closing, _) = self.consume(Context::Values);
                if closing != Tok::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(values)
            }
            Tok::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        fn insert(values: &mut Vec<String>, v: String) {
            if !values.contains(&v) {
                values.push(v);
            }
        }
        let mut values: Vec<String> = Vec::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Tok::Identifier => {
                    insert(&mut values, lit);
                    let (next, next_lit) = self.lookahead(Context::Values);
                    match next {
                        Tok::Comma => continue,
                        Tok::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{next_lit}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if values.is_empty() {
                        insert(&mut values, String::new());
                    }
                    let (next, _) = self.lookahead(Context::Values);
                    if next == Tok::ClosedPar {
                        insert(&mut values, String::new());
                        return Ok(values);
                    }
                    if next == Tok::Comma {
                        self.consume(Context::Values);
                        insert(&mut values, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Tok::EndOfString || tok == Tok::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Tok::Identifier {
            Ok(vec![lit])
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

/// A label selector: every requirement must hold. The empty selector matches everything; the
/// selector of a null `LabelSelector` object matches nothing (upstream's `labels.Nothing()`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// Parse the query-string form (`labelSelector=`): `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
    /// `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, comma-separated, whitespace tolerant. Errors are
    /// 400 BadRequest with upstream's text and the selector, e.g.
    /// `unable to parse requirement: found 'b' expected: '(' (label selector "a in b")`.
    pub fn parse(selector: &str) -> Result<Self, ApiError> {
        let mut parser = Parser {
            items: lex(selector),
            position: 0,
        };
        let mut requirements = parser.parse().map_err(|e| {
            ApiError::bad_request(&format!("{e} (label selector {})", go_quote(selector)))
        })?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// From a metav1 `LabelSelector` object (`matchLabels`, `matchExpressions` with `In`,
    /// `NotIn`, `Exists`, `DoesNotExist`), as upstream's `LabelSelectorAsSelector`: `null`
    /// selects nothing, `{}` everything. Errors are 400 BadRequest with upstream's text.
    pub fn from_label_selector(sel: &Value) -> Result<Self, ApiError> {
        let bad = |why: String| ApiError::bad_request(&why);
        let obj = match sel {
            Value::Null => {
                return Ok(Self {
                    requirements: Vec::new(),
                    nothing: true,
                });
            }
            Value::Object(obj) => obj,
            other => {
                return Err(bad(format!(
                    "a label selector must be an object, not {}",
                    show_value(other)
                )));
            }
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (k, v) in labels {
                    let v = v.as_str().ok_or_else(|| {
                        bad(format!("matchLabels[{k}]: must be a string, not {v}"))
                    })?;
                    requirements
                        .push(Requirement::new(k, Op::Equals, vec![v.into()]).map_err(bad)?);
                }
            }
            Some(other) => return Err(bad(format!("matchLabels: must be an object, not {other}"))),
        }
        let expressions = match obj.get("matchExpressions") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(e)) => e.as_slice(),
            Some(other) => {
                return Err(bad(format!(
                    "matchExpressions: must be a list, not {other}"
                )));
            }
        };
        for (i, e) in expressions.iter().enumerate() {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let operator = e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let values = match e.get("values") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(vs)) => vs
                    .iter()
                    .map(|v| {
                        v.as_str().map(String::from).ok_or_else(|| {
                            bad(format!(
                                "matchExpressions[{i}].values: must be strings, not {v}"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(other) => {
                    return Err(bad(format!(
                        "matchExpressions[{i}].values: must be a list, not {other}"
                    )));
                }
            };
            let op = match operator {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => {
                    return Err(bad(format!(
                        "{} is not a valid label selector operator",
                        go_quote(other)
                    )));
                }
            };
            requirements.push(Requirement::new(key, op, values).map_err(bad)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector has no requirements (and so selects everything).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }
}

/// The canonical string: requirements sorted by key, values sorted (`app=web,tier in (a,b)`).
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// One field selector term.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    field: String,
    negate: bool,
    value: String,
}

/// A field selector: every `field=value` / `field!=value` must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<Term>,
    group: &'static str,
    plural: &'static str,
}

/// The fields each resource can be selected by, beyond `metadata.name` and
/// `metadata.namespace` (upstream's field label conversion functions).
fn supported_fields(group: &str, plural: &str) -> &'static [&'static str] {
    match (group, plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("batch", "jobs") => &["status.successful"],
        ("apps", "replicasets") => &["status.replicas"],
        _ => &[],
    }
}

/// Upstream's `splitTerms`: commas not escaped by a backslash.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Upstream's `splitTerm`: the first `!=`, `==` or `=`.
fn split_term(term: &str) -> Option<(&str, &str, &str)> {
    for (i, _) in term.char_indices() {
        for op in ["!=", "==", "="] {
            if term[i..].starts_with(op) {
                return Some((&term[..i], op, &term[i + op.len()..]));
            }
        }
    }
    None
}

/// Upstream's `UnescapeValue`: `\\`, `\,` and `\=` are escapes; bare `,` and `=` are errors.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{other}"
                    ));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            other => out.push(other),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".into());
    }
    Ok(out)
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
}

/// A scalar as a field selector sees it: strings as they are, numbers and booleans printed,
/// absent and null as "".
fn scalar(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

impl FieldSelector {
    /// Parse `fieldSelector=` for `res`: `=`, `==`, `!=`, comma-separated, values escaped with
    /// `\`. Fields other than `metadata.name`, `metadata.namespace` and the resource's own
    /// selectable fields are 400 BadRequest `field label not supported: <field>`.
    pub fn parse(selector: &str, res: &ResourceInfo) -> Result<Self, ApiError> {
        let mut parts = split_terms(selector);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let (field, op, value) = split_term(part).ok_or_else(|| {
                ApiError::bad_request(&format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                ))
            })?;
            let value = unescape(value.trim()).map_err(|e| ApiError::bad_request(&e))?;
            terms.push(Term {
                field: field.trim().to_string(),
                negate: op == "!=",
                value,
            });
        }
        for term in &mut terms {
            if res.group.is_empty() && res.plural == "pods" && term.field == "spec.host" {
                term.field = "spec.nodeName".into();
            }
            let field = term.field.as_str();
            if !matches!(field, "metadata.name" | "metadata.namespace")
                && !supported_fields(res.group, res.plural).contains(&field)
            {
                return Err(ApiError::bad_request(&format!(
                    "field label not supported: {field}"
                )));
            }
        }
        Ok(Self {
            terms,
            group: res.group,
            plural: res.plural,
        })
    }

    /// Whether `obj` satisfies every term (absent values compare as "").
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms
            .iter()
            .all(|t| (field_value(self.group, self.plural, &t.field, obj) == t.value) != t.negate)
    }

    /// Whether an object whose selectable fields are `fields` (see [`field_set`]) satisfies
    /// every term: the same answer as [`FieldSelector::matches`] on the object itself.
    pub fn matches_set(&self, fields: &[(&'static str, String)]) -> bool {
        self.terms.iter().all(|t| {
            let value = fields
                .iter()
                .find(|(f, _)| *f == t.field)
                .map_or("", |(_, v)| v.as_str());
            (value == t.value) != t.negate
        })
    }

    /// The name, when the selector is exactly `metadata.name=<name>`.
    pub fn single_name(&self) -> Option<&str> {
        match self.terms.as_slice() {
            [t] if t.field == "metadata.name" && !t.negate => Some(&t.value),
            _ => None,
        }
    }

    /// Whether the selector has no terms (and so selects everything).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// The value of `field` in `obj`, as the resource's selectable field set has it.
/// (A field read from another path than its name must have that path in [`field_members`].)
pub fn field_value(group: &str, plural: &str, field: &str, obj: &Value) -> String {
    let path = |p: &str| obj.pointer(p);
    match (group, plural, field) {
        ("", "pods", "status.podIP") => {
            let first = path("/status/podIPs/0/ip").and_then(Value::as_str);
            first
                .or_else(|| path("/status/podIP").and_then(Value::as_str))
                .unwrap_or_default()
                .to_string()
        }
        ("", "pods", "spec.hostNetwork") | ("", "nodes", "spec.unschedulable") => {
            let pointer = format!("/{}", field.replace('.', "/"));
            path(&pointer)
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string()
        }
        ("batch", "jobs", "status.successful") => path("/status/succeeded")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string(),
        ("apps", "replicasets", "status.replicas") => path("/status/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string(),
        ("", "events", "source") => {
            let component = scalar(path("/source/component"));
            if component.is_empty() {
                scalar(path("/reportingComponent"))
            } else {
                component
            }
        }
        _ => scalar(path(&format!("/{}", field.replace('.', "/")))),
    }
}

/// What the selectable fields beyond `metadata` read: each top-level member (a pod's `spec` and
/// `status`; an event's `involvedObject`, `source`, ...), sorted, with the members of it that
/// [`field_value`] reads (empty: the whole
/// member, as an event's `source` or a secret's `type`). A watch cache decodes these alone,
/// not a pod's whole spec for its nodeName.
pub fn field_members(res: &ResourceInfo) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    let mut add = |root: &'static str, member: Option<&'static str>| {
        let i = match out.iter().position(|(r, _)| *r == root) {
            Some(i) => i,
            None => {
                out.push((root, Vec::new()));
                out.len() - 1
            }
        };
        if let Some(m) = member
            && !out[i].1.contains(&m)
        {
            out[i].1.push(m);
        }
    };
    for f in supported_fields(res.group, res.plural) {
        let mut parts = f.splitn(3, '.');
        let root = parts.next().unwrap_or(f);
        if root == "metadata" {
            continue;
        }
        add(root, parts.next());
        // field_value's fields read from other paths than their names.
        match (res.group, res.plural, *f) {
            ("", "pods", "status.podIP") => add("status", Some("podIPs")),
            ("", "events", "source") => add("reportingComponent", None),
            ("batch", "jobs", "status.successful") => add("status", Some("succeeded")),
            _ => {}
        }
    }
    out.sort_unstable();
    out
}

/// Every selectable field of `obj` (`metadata.name`, `metadata.namespace` and the resource's
/// own) with its value: what a watch cache keeps so that field selectors need not decode the
/// object again.
pub fn field_set(res: &ResourceInfo, obj: &Value) -> Vec<(&'static str, String)> {
    ["metadata.name", "metadata.namespace"]
        .iter()
        .chain(supported_fields(res.group, res.plural))
        .map(|f| (*f, field_value(res.group, res.plural, f, obj)))
        .collect()
}

/// The canonical string: terms sorted, values escaped (`metadata.name=x,spec.nodeName!=n1`).
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if t.negate { "!=" } else { "=" };
            write!(f, "{}{op}{}", t.field, escape(&t.value))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn field_roots_are_the_members_beyond_metadata_that_fields_read() {
        let roots = |group, version, plural| -> Vec<&str> {
            field_members(find(group, version, plural).expect("res"))
                .into_iter()
                .map(|(root, _)| root)
                .collect()
        };
        assert_eq!(roots("", "v1", "pods"), ["spec", "status"]);
        assert_eq!(roots("", "v1", "secrets"), ["type"]);
        assert_eq!(roots("", "v1", "configmaps"), Vec::<&str>::new());
        assert_eq!(
            roots("", "v1", "events"),
            [
                "involvedObject",
                "reason",
                "reportingComponent",
                "source",
                "type"
            ]
        );
    }

    #[test]
    fn field_members_are_what_field_value_reads_below_each_root() {
        let members =
            |group, version, plural| field_members(find(group, version, plural).expect("res"));
        assert_eq!(
            members("", "v1", "pods"),
            [
                (
                    "spec",
                    vec![
                        "nodeName",
                        "restartPolicy",
                        "schedulerName",
                        "serviceAccountName",
                        "hostNetwork"
                    ]
                ),
                (
                    "status",
                    vec!["phase", "podIP", "podIPs", "nominatedNodeName"]
                ),
            ]
        );
        assert_eq!(members("", "v1", "secrets"), [("type", vec![])]);
        assert_eq!(members("", "v1", "configmaps"), []);
        let events = members("", "v1", "events");
        assert!(events.contains(&("source", vec![])));
        assert!(events.contains(&("reportingComponent", vec![])));
    }

    fn parse_err(s: &str) -> String {
        let e = LabelSelector::parse(s).expect_err(s);
        assert_eq!(e.code(), 400, "{s}");
        assert_eq!(e.reason(), "BadRequest", "{s}");
        e.message().to_string()
    }

    fn res(group: &str, version: &str, plural: &str) -> &'static ResourceInfo {
        find(group, version, plural).expect("resource")
    }

    #[test]
    fn every_operator_of_the_query_syntax_matches() {
        let l = labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("env", "prod"),
            ("gen", "5"),
        ]);
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app=other", false),
            ("app!=web", false),
            ("app!=other", true),
            ("missing!=x", true),
            ("tier in (front, back)", true),
            ("tier in (back)", false),
            ("missing in (x)", false),
            ("tier notin (front)", false),
            ("tier notin (back)", true),
            ("missing notin (x)", true),
            ("env", true),
            ("missing", false),
            ("!env", false),
            ("!missing", true),
            ("gen>4", true),
            ("gen>5", false),
            ("gen<6", true),
            ("missing>1", false),
            ("app>1", false),
            ("app=web,tier in (back)", false),
            ("app=web,tier in (front),!missing", true),
            ("", true),
            ("   ", true),
        ] {
            assert_eq!(parse(sel).matches(&l), want, "{sel}");
        }
    }

    #[test]
    fn whitespace_is_tolerated() {
        let s = parse("  app = web ,tier   in(front,back)  , ! gone ");
        assert_eq!(s.to_string(), "app=web,!gone,tier in (back,front)");
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "back")])));
    }

    #[test]
    fn empty_values_and_keywords_as_values() {
        assert!(parse("a=").matches(&labels(&[("a", "")])));
        assert!(parse("a in ()").matches(&labels(&[("a", "")])));
        assert!(parse("a in (,x)").matches(&labels(&[("a", "")])));
        assert!(parse("a in (x,,y)").matches(&labels(&[("a", "")])));
        assert_eq!(parse("a in (x,,y)").to_string(), "a in (,x,y)");
        assert!(parse("a in (in, notin)").matches(&labels(&[("a", "notin")])));
        assert!(parse("in=notin").matches(&labels(&[("in", "notin")])));
    }

    #[test]
    fn display_is_canonical_sorted_by_key() {
        assert_eq!(
            parse("tier in (b,a,b),app=web,!x,y,z!=1,v==2,g>3,l<4").to_string(),
            "app=web,g>3,l<4,tier in (a,b),v==2,!x,y,z!=1"
        );
        assert_eq!(parse("").to_string(), "");
        assert!(parse("").is_empty());
        assert!(!parse("a").is_empty());
    }

    #[test]
    fn syntax_errors_read_like_upstream_and_name_the_selector() {
        for (sel, want) in [
            (
                "a in b",
                "unable to parse requirement: found 'b' expected: '(' (label selector \"a in b\")",
            ),
            (
                "a in (b",
                "unable to parse requirement: found '', expected: ',' or ')' (label selector \"a in (b\")",
            ),
            (
                "a b",
                "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt (label selector \"a b\")",
            ),
            (
                "a=b,",
                "found '', expected: identifier after ',' (label selector \"a=b,\")",
            ),
            (
                "a=b c",
                "found 'c', expected: ',' or 'end of string' (label selector \"a=b c\")",
            ),
            (
                "=x",
                "found '=', expected: !, identifier, or 'end of string' (label selector \"=x\")",
            ),
            (
                "!a=b",
                "found '=', expected: ',' or 'end of string' (label selector \"!a=b\")",
            ),
            (
                "a in (b c)",
                "unable to parse requirement: found 'c', expected: ',' or ')' (label selector \"a in (b c)\")",
            ),
            (
                "a in (=)",
                "unable to parse requirement: found '=', expected: ',', ')' or identifier (label selector \"a in (=)\")",
            ),
            (
                "a=(",
                "unable to parse requirement: found '(', expected: identifier (label selector \"a=(\")",
            ),
            (
                "!,a",
                "unable to parse requirement: found ',', expected: identifier (label selector \"!,a\")",
            ),
        ] {
            assert_eq!(parse_err(sel), want, "{sel}");
        }
    }

    #[test]
    fn invalid_keys_and_values_are_named_with_upstreams_paths() {
        assert_eq!(
            parse_err("-bad-=x"),
            "unable to parse requirement: <nil>: Invalid value: \"-bad-\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') (label selector \"-bad-=x\")"
        );
        assert_eq!(
            parse_err("app=-x"),
            "unable to parse requirement: values[0][app]: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?') (label selector \"app=-x\")"
        );
        assert_eq!(
            parse_err("n>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer (label selector \"n>x\")"
        );
        let two = parse_err("a in (-x,y-)");
        assert!(
            two.starts_with("unable to parse requirement: [values[0][a]: Invalid value: \"-x\""),
            "{two}"
        );
        assert!(
            two.contains(", values[1][a]: Invalid value: \"y-\""),
            "{two}"
        );
    }

    #[test]
    fn label_selector_objects_parse_and_print() {
        let s = LabelSelector::from_label_selector(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "gpu", "operator": "Exists"},
                {"key": "spot", "operator": "DoesNotExist", "values": []}
            ]
        }))
        .expect("parse");
        assert_eq!(
            s.to_string(),
            "app=web,env notin (dev),gpu,!spot,tier in (a,b)"
        );
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "b"), ("gpu", "")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "b")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "b"),
            ("gpu", ""),
            ("spot", "1")
        ])));
        assert!(!s.is_empty());
    }

    #[test]
    fn empty_selector_objects_select_everything_and_null_nothing() {
        let everything = LabelSelector::from_label_selector(&json!({})).expect("{}");
        assert!(everything.is_empty());
        assert!(everything.matches(&labels(&[("a", "b")])));
        assert!(everything.matches(&BTreeMap::new()));
        let also =
            LabelSelector::from_label_selector(&json!({"matchLabels": {}, "matchExpressions": []}))
                .expect("empty");
        assert!(also.is_empty());
        let nothing = LabelSelector::from_label_selector(&Value::Null).expect("null");
        assert!(!nothing.is_empty());
        assert!(!nothing.matches(&labels(&[("a", "b")])));
        assert!(!nothing.matches(&BTreeMap::new()));
        assert_eq!(nothing.to_string(), "");
    }

    #[test]
    fn invalid_selector_objects_are_refused_with_upstreams_text() {
        let err = |v: Value| {
            let e = LabelSelector::from_label_selector(&v).expect_err("invalid");
            assert_eq!(e.code(), 400);
            e.message().to_string()
        };
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "x", "operator": "In"}]})),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "x", "operator": "Exists", "values": ["a"]}]})),
            "values: Invalid value: [\"a\"]: values set must be empty for exists and does not exist"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "x", "operator": "Gt", "values": ["1"]}]})),
            "\"Gt\" is not a valid label selector operator"
        );
        assert!(
            err(json!({"matchLabels": {"bad key": "x"}}))
                .starts_with("key: Invalid value: \"bad key\": name part must consist")
        );
        assert!(
            err(json!({"matchLabels": {"app": "-x"}}))
                .starts_with("values[0][app]: Invalid value: \"-x\"")
        );
        assert!(err(json!({"matchLabels": {"app": 1}})).contains("must be a string"));
        assert!(err(json!({"matchLabels": ["app"]})).contains("must be an object"));
        assert!(err(json!({"matchExpressions": {}})).contains("must be a list"));
        assert!(err(json!("app=web")).contains("must be an object"));
    }

    #[test]
    fn field_selectors_match_paths_and_treat_absent_as_empty() {
        let pods = res("", "v1", "pods");
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1", "restartPolicy": "Always"}, "status": {"phase": "Running"}});
        let s =
            FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending", pods).expect("parse");
        assert!(s.matches(&pod));
        assert!(
            !FieldSelector::parse("spec.nodeName=", pods)
                .expect("parse")
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("spec.nodeName=", pods)
                .expect("parse")
                .matches(&json!({"spec": {}}))
        );
        assert!(
            FieldSelector::parse("spec.nodeName==n1", pods)
                .expect("parse")
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("metadata.namespace=ns,metadata.name=p", pods)
                .expect("parse")
                .matches(&pod)
        );
        assert!(
            !FieldSelector::parse("metadata.name!=p", pods)
                .expect("parse")
                .matches(&pod)
        );
        assert!(FieldSelector::parse("", pods).expect("empty").matches(&pod));
        assert!(FieldSelector::parse("", pods).expect("empty").is_empty());
        assert!(
            FieldSelector::parse("spec.host=n1", pods)
                .expect("alias")
                .matches(&pod),
            "spec.host is spec.nodeName"
        );
    }

    #[test]
    fn pod_fields_follow_upstreams_selectable_set() {
        let pods = res("", "v1", "pods");
        let sel = |s: &str| FieldSelector::parse(s, pods).expect(s);
        let pod = json!({"spec": {"hostNetwork": true}, "status": {"podIPs": [{"ip": "10.0.0.5"}], "podIP": "10.0.0.5"}});
        assert!(sel("status.podIP=10.0.0.5").matches(&pod));
        assert!(sel("status.podIP=10.0.0.6").matches(&json!({"status": {"podIP": "10.0.0.6"}})));
        assert!(sel("spec.hostNetwork=true").matches(&pod));
        assert!(sel("spec.hostNetwork=false").matches(&json!({})));
        for field in [
            "spec.schedulerName",
            "spec.restartPolicy",
            "spec.serviceAccountName",
            "status.nominatedNodeName",
        ] {
            assert!(sel(&format!("{field}=")).matches(&json!({})), "{field}");
        }
    }

    #[test]
    fn each_resource_has_its_own_selectable_fields() {
        let ok = |group: &str, version: &str, plural: &str, s: &str, obj: Value| {
            FieldSelector::parse(s, res(group, version, plural))
                .unwrap_or_else(|e| panic!("{plural} {s}: {e}"))
                .matches(&obj)
        };
        assert!(ok(
            "",
            "v1",
            "secrets",
            "type=Opaque",
            json!({"type": "Opaque"})
        ));
        assert!(ok(
            "",
            "v1",
            "nodes",
            "spec.unschedulable=false",
            json!({"spec": {}})
        ));
        assert!(ok(
            "",
            "v1",
            "nodes",
            "spec.unschedulable=true",
            json!({"spec": {"unschedulable": true}})
        ));
        assert!(ok(
            "",
            "v1",
            "namespaces",
            "status.phase=Active",
            json!({"status": {"phase": "Active"}})
        ));
        assert!(ok("batch", "v1", "jobs", "status.successful=0", json!({})));
        assert!(ok(
            "batch",
            "v1",
            "jobs",
            "status.successful=2",
            json!({"status": {"succeeded": 2}})
        ));
        assert!(ok(
            "apps",
            "v1",
            "replicasets",
            "status.replicas=0",
            json!({"status": {}})
        ));
        assert!(ok(
            "apps",
            "v1",
            "replicasets",
            "status.replicas=3",
            json!({"status": {"replicas": 3}})
        ));
        let ev = json!({"involvedObject": {"name": "web", "kind": "Pod", "namespace": "ns", "uid": "u1", "apiVersion": "v1", "resourceVersion": "7", "fieldPath": "spec.containers{app}"},
            "type": "Normal", "reason": "Started", "source": {"component": "kubelet"}, "reportingComponent": "kubelet"});
        assert!(ok(
            "",
            "v1",
            "events",
            "involvedObject.name=web,involvedObject.kind=Pod,involvedObject.namespace=ns,involvedObject.uid=u1,involvedObject.apiVersion=v1,involvedObject.resourceVersion=7,involvedObject.fieldPath=spec.containers{app},type=Normal,reason=Started,source=kubelet,reportingComponent=kubelet",
            ev
        ));
        assert!(
            ok(
                "",
                "v1",
                "events",
                "source=scheduler",
                json!({"reportingComponent": "scheduler"})
            ),
            "source falls back to reportingComponent"
        );
        let new_ev = json!({"regarding": {"name": "web", "kind": "Pod"}, "reason": "Scheduled", "type": "Normal", "reportingController": "default-scheduler"});
        assert!(ok(
            "events.k8s.io",
            "v1",
            "events",
            "regarding.name=web,regarding.kind=Pod,reason=Scheduled,type=Normal,reportingController=default-scheduler",
            new_ev
        ));
        for (group, version, plural) in [
            ("apps", "v1", "deployments"),
            ("", "v1", "configmaps"),
            ("coordination.k8s.io", "v1", "leases"),
        ] {
            assert!(ok(
                group,
                version,
                plural,
                "metadata.name=x,metadata.namespace=ns",
                json!({"metadata": {"name": "x", "namespace": "ns"}})
            ));
        }
    }

    #[test]
    fn unsupported_fields_are_bad_requests() {
        let e = FieldSelector::parse("spec.containers=x", res("", "v1", "pods"))
            .expect_err("unsupported");
        assert_eq!(
            (e.code(), e.message()),
            (400, "field label not supported: spec.containers")
        );
        for (group, version, plural, field) in [
            ("apps", "v1", "deployments", "spec.replicas"),
            ("", "v1", "events", "regarding.name"),
            ("events.k8s.io", "v1", "events", "involvedObject.name"),
            ("", "v1", "secrets", "data"),
            ("", "v1", "pods", "spec.unschedulable"),
        ] {
            let e = FieldSelector::parse(&format!("{field}=x"), res(group, version, plural))
                .expect_err(field);
            assert_eq!(e.message(), format!("field label not supported: {field}"));
        }
    }

    #[test]
    fn malformed_field_selectors_read_like_upstream() {
        let pods = res("", "v1", "pods");
        let err = |s: &str| {
            FieldSelector::parse(s, pods)
                .expect_err(s)
                .message()
                .to_string()
        };
        assert_eq!(
            err("spec.nodeName"),
            "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"
        );
        assert_eq!(
            err("metadata.name=a,oops"),
            "invalid selector: 'metadata.name=a,oops'; can't understand 'oops'"
        );
        assert_eq!(
            err("metadata.name=a=b"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            err("metadata.name=a\\x"),
            "invalid field selector: invalid escape sequence: \\x"
        );
        assert_eq!(
            err("metadata.name=a\\"),
            "invalid field selector: invalid escape sequence: \\"
        );
    }

    #[test]
    fn escaped_values_match_and_print() {
        let pods = res("", "v1", "pods");
        let s = FieldSelector::parse("metadata.name=a\\,b\\=c\\\\d", pods).expect("escaped");
        assert!(s.matches(&json!({"metadata": {"name": "a,b=c\\d"}})));
        assert_eq!(s.to_string(), "metadata.name=a\\,b\\=c\\\\d");
        assert_eq!(s.single_name(), Some("a,b=c\\d"));
    }

    #[test]
    fn field_selector_display_is_sorted() {
        let pods = res("", "v1", "pods");
        let s = FieldSelector::parse("status.phase!=Failed,metadata.name==p", pods).expect("parse");
        assert_eq!(s.to_string(), "metadata.name=p,status.phase!=Failed");
    }

    #[test]
    fn single_name_only_for_exactly_one_name_term() {
        let pods = res("", "v1", "pods");
        let name = |s: &str| {
            FieldSelector::parse(s, pods)
                .expect(s)
                .single_name()
                .map(String::from)
        };
        assert_eq!(name("metadata.name=p"), Some("p".into()));
        assert_eq!(name("metadata.name==p"), Some("p".into()));
        assert_eq!(name("metadata.name!=p"), None);
        assert_eq!(name("metadata.name=p,status.phase=Running"), None);
        assert_eq!(name("status.phase=Running"), None);
        assert_eq!(name(""), None);
    }
}
