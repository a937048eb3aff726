//! Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`, and metav1.LabelSelector objects)
//! and field selectors (`metadata.name=x,spec.nodeName!=y`), parsed and matched.

use crate::error::ApiError;
use crate::names;
use crate::resources::ResourceInfo;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.key);
        match &self.op {
            Op::Eq(x) => v == Some(x),
            Op::NotEq(x) => v != Some(x),
            Op::In(xs) => v.is_some_and(|v| xs.contains(v)),
            Op::NotIn(xs) => v.is_none_or(|v| !xs.contains(v)),
            Op::Exists => v.is_some(),
            Op::DoesNotExist => v.is_none(),
        }
    }
}

/// A label selector: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

fn parse_error(selector: &str, why: &str) -> ApiError {
    ApiError::bad_request(&format!(
        "unable to parse requirement: {why} (in label selector {selector:?})"
    ))
}

/// Split on commas outside parentheses.
fn split_top(s: &str) -> Result<Vec<&str>, ()> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(());
                }
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(());
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn check_key(selector: &str, key: &str) -> Result<String, ApiError> {
    let problems = names::label_key(key);
    if let Some(p) = problems.first() {
        return Err(parse_error(
            selector,
            &format!("invalid label key {key:?}: {p}"),
        ));
    }
    Ok(key.to_string())
}

fn check_value(selector: &str, value: &str) -> Result<String, ApiError> {
    if let Some(p) = names::label_value(value).first() {
        return Err(parse_error(
            selector,
            &format!("invalid label value: {value:?}: {p}"),
        ));
    }
    Ok(value.to_string())
}

fn parse_set(selector: &str, s: &str) -> Result<Vec<String>, ApiError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| parse_error(selector, "found a set that is not in parentheses"))?;
    inner
        .split(',')
        .map(|v| check_value(selector, v.trim()))
        .collect()
}

impl LabelSelector {
    /// Parse the query-string form; 400 BadRequest naming the selector on error.
    pub fn parse(selector: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        if selector.trim().is_empty() {
            return Ok(Self::default());
        }
        let parts =
            split_top(selector).map_err(|()| parse_error(selector, "unbalanced parentheses"))?;
        for part in parts {
            let p = part.trim();
            if p.is_empty() {
                return Err(parse_error(selector, "found an empty requirement"));
            }
            let req = if let Some(key) = p.strip_prefix('!') {
                Requirement {
                    key: check_key(selector, key.trim())?,
                    op: Op::DoesNotExist,
                }
            } else if let Some((k, v)) = p.split_once("!=") {
                Requirement {
                    key: check_key(selector, k.trim())?,
                    op: Op::NotEq(check_value(selector, v.trim())?),
                }
            } else if let Some((k, v)) = p.split_once("==") {
                Requirement {
                    key: check_key(selector, k.trim())?,
                    op: Op::Eq(check_value(selector, v.trim())?),
                }
            } else if let Some((k, v)) = p.split_once('=') {
                Requirement {
                    key: check_key(selector, k.trim())?,
                    op: Op::Eq(check_value(selector, v.trim())?),
                }
            } else if let Some(idx) = p.find(" notin ").or_else(|| p.find(" notin(")) {
                Requirement {
                    key: check_key(selector, p[..idx].trim())?,
                    op: Op::NotIn(parse_set(selector, &p[idx + 6..])?),
                }
            } else if let Some(idx) = p.find(" in ").or_else(|| p.find(" in(")) {
                Requirement {
                    key: check_key(selector, p[..idx].trim())?,
                    op: Op::In(parse_set(selector, &p[idx + 3..])?),
                }
            } else if p.contains(' ') || p.contains('(') {
                return Err(parse_error(
                    selector,
                    &format!("{p:?}: expected an operator (=, ==, !=, in, notin)"),
                ));
            } else {
                Requirement {
                    key: check_key(selector, p)?,
                    op: Op::Exists,
                }
            };
            requirements.push(req);
        }
        Ok(Self { requirements })
    }

    /// From a metav1.LabelSelector object (matchLabels, matchExpressions).
    pub fn from_label_selector(sel: &Value) -> Result<Self, ApiError> {
        let bad = |why: String| ApiError::bad_request(&format!("invalid label selector: {why}"));
        let mut requirements = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(format!("matchLabels.{k} is not a string")))?;
                requirements.push(Requirement {
                    key: check_key("matchLabels", k)?,
                    op: Op::Eq(check_value("matchLabels", v)?),
                });
            }
        }
        for e in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = e
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("matchExpressions: key is required".into()))?;
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let op = match e.get("operator").and_then(Value::as_str) {
                Some("In") if !values.is_empty() => Op::In(values),
                Some("NotIn") if !values.is_empty() => Op::NotIn(values),
                Some("Exists") if values.is_empty() => Op::Exists,
                Some("DoesNotExist") if values.is_empty() => Op::DoesNotExist,
                Some(o @ ("In" | "NotIn")) => {
                    return Err(bad(format!("operator {o} needs values")));
                }
                Some(o @ ("Exists" | "DoesNotExist")) => {
                    return Err(bad(format!("operator {o} takes no values")));
                }
                other => return Err(bad(format!("{other:?} is not a valid selector operator"))),
            };
            requirements.push(Requirement {
                key: check_key("matchExpressions", key)?,
                op,
            });
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match &r.op {
                Op::Eq(v) => format!("{}={v}", r.key),
                Op::NotEq(v) => format!("{}!={v}", r.key),
                Op::In(vs) => format!("{} in ({})", r.key, vs.join(",")),
                Op::NotIn(vs) => format!("{} notin ({})", r.key, vs.join(",")),
                Op::Exists => r.key.clone(),
                Op::DoesNotExist => format!("!{}", r.key),
            })
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

/// A field selector: every `field=value` / `field!=value` must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

fn supported_fields(res: &ResourceInfo) -> &'static [&'static str] {
    match (res.group, res.plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.schedulerName",
            "spec.restartPolicy",
            "spec.serviceAccountName",
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

impl FieldSelector {
    pub fn parse(selector: &str, res: &ResourceInfo) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, negate, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(&format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace")
                && !supported_fields(res).contains(&field)
            {
                return Err(ApiError::bad_request(&format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push((field.to_string(), negate, value.trim().to_string()));
        }
        Ok(Self { terms })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|(field, negate, want)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let got = match obj.pointer(&pointer) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Object(m)) if field == "source" => m
                    .get("component")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                Some(other) => other.to_string(),
            };
            (got == *want) != *negate
        })
    }

    /// The name, when the selector is exactly `metadata.name=<name>`.
    pub fn single_name(&self) -> Option<&str> {
        match self.terms.as_slice() {
            [(f, false, v)] if f == "metadata.name" => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_operator_of_the_query_syntax_matches() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("env", "prod")]);
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("tier in (front, back)", true),
            ("tier notin (front)", false),
            ("env", true),
            ("!env", false),
            ("!missing", true),
            ("app=web,tier in (back)", false),
            ("", true),
            ("missing notin (x)", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel)
                    .unwrap_or_else(|e| panic!("{sel}: {e}"))
                    .matches(&l),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn malformed_label_selectors_are_bad_requests_naming_the_selector() {
        for bad in ["a in (b", "a in b", "a b", "a=b,", "=x", "a=b c", "-bad-=x"] {
            let e = LabelSelector::parse(bad).expect_err(bad);
            assert_eq!(e.code(), 400, "{bad}");
            assert!(e.message().contains(bad), "{bad}: {}", e.message());
        }
    }

    #[test]
    fn label_selector_objects_parse_and_print() {
        let s = LabelSelector::from_label_selector(&json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]})).expect("parse");
        assert_eq!(s.to_string(), "app=web,tier in (a,b)");
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "b")])));
        assert!(
            LabelSelector::from_label_selector(
                &json!({"matchExpressions": [{"key": "x", "operator": "In"}]})
            )
            .is_err()
        );
        assert!(
            LabelSelector::from_label_selector(&json!({}))
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn field_selectors_match_paths_and_refuse_unknown_fields() {
        let pods = crate::resources::find("", "v1", "pods").expect("pods");
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
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
                .matches(&json!({"spec": {}})),
            "absent is empty"
        );
        assert_eq!(
            FieldSelector::parse("metadata.name=p", pods)
                .expect("parse")
                .single_name(),
            Some("p")
        );
        let e = FieldSelector::parse("spec.containers=x", pods).expect_err("unsupported");
        assert_eq!(e.message(), "field label not supported: spec.containers");
        let events = crate::resources::find("", "v1", "events").expect("events");
        let ev = json!({"involvedObject": {"name": "web", "kind": "Pod"}, "type": "Normal"});
        assert!(
            FieldSelector::parse(
                "involvedObject.name=web,involvedObject.kind=Pod,type=Normal",
                events
            )
            .expect("parse")
            .matches(&ev)
        );
    }
}
