//! Sets of fields, as server-side apply tracks ownership: which leaves and list items of an
//! object a manager set, and their `FieldsV1` form in `metadata.managedFields`.
//!
//! A path names a place in an object by field names (`f:spec`, also map keys such as a
//! label's), list items by their merge key (`k:{"name":"nginx"}`) or, in sets of primitives,
//! by value (`v:"x"`). Lists without a merge strategy are atomic: the list is one leaf. What
//! is a member of an object's set follows structured-merge-diff: every scalar and atomic
//! value, every empty map, and every list item; maps and structs are members only through
//! their fields. Label selectors are atomic, as upstream's `+structType=atomic` makes them.

use crate::strategic::schema::{ListStrategy, list_strategy};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Element {
    /// A struct field or a map key.
    Field(String),
    /// A list item by its merge key: the key object as JSON with sorted keys.
    Key(String),
    /// An item of a set of primitives, as JSON.
    Value(String),
}

/// A place in an object.
pub type Path = Vec<Element>;

/// Paths, sorted.
pub type FieldSet = BTreeSet<Path>;

/// Why a `FieldsV1` document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fieldsV1: {0}")]
pub struct FieldsError(pub String);

/// A path as upstream prints it in conflicts: `.spec.containers[name="nginx"].image`.
pub fn display(path: &[Element]) -> String {
    struct Shown<'a>(&'a [Element]);
    impl fmt::Display for Shown<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for e in self.0 {
                match e {
                    Element::Field(name) => write!(f, ".{name}")?,
                    Element::Key(key) => {
                        let parsed: Map<String, Value> =
                            serde_json::from_str(key).unwrap_or_default();
                        let parts: Vec<String> =
                            parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        write!(f, "[{}]", parts.join(","))?
                    }
                    Element::Value(v) => write!(f, "[={v}]")?,
                }
            }
            Ok(())
        }
    }
    Shown(path).to_string()
}

/// The list fields' strategies of one kind: what decides how a list's items are named.
#[derive(Debug, Clone, Copy)]
pub struct Kind<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
}

impl Kind<'_> {
    fn list(&self, steps: &[String]) -> ListStrategy {
        let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
        list_strategy(self.api_version, self.kind, &steps)
    }
}

/// Whether the object at `steps` is atomic: label selectors are replaced whole.
fn atomic_struct(steps: &[String], value: &Map<String, Value>) -> bool {
    steps.last().is_some_and(|s| s == "selector")
        && (value.contains_key("matchLabels") || value.contains_key("matchExpressions"))
}

/// The key element of a list item merged by `key`, if it has that key.
pub fn item_key(item: &Value, key: &str) -> Option<Element> {
    let value = item.get(key)?;
    Some(Element::Key(json!({ key: value }).to_string()))
}

/// The value element of a set item.
pub fn item_value(item: &Value) -> Element {
    Element::Value(item.to_string())
}

/// The set of fields `value` sets (see the module doc for what is a member).
pub fn of(kind: Kind<'_>, value: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    collect(kind, value, &mut Vec::new(), &mut Vec::new(), &mut out);
    out
}

fn collect(
    kind: Kind<'_>,
    value: &Value,
    path: &mut Path,
    steps: &mut Vec<String>,
    out: &mut FieldSet,
) {
    match value {
        Value::Object(map) if !map.is_empty() && !atomic_struct(steps, map) => {
            for (key, child) in map {
                path.push(Element::Field(key.clone()));
                steps.push(key.clone());
                collect(kind, child, path, steps, out);
                steps.pop();
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match kind.list(steps) {
            ListStrategy::MergeKey(key) if items.iter().all(|i| item_key(i, key).is_some()) => {
                for item in items {
                    let Some(element) = item_key(item, key) else {
                        continue;
                    };
                    path.push(element);
                    out.insert(path.clone());
                    if let Value::Object(fields) = item {
                        for (field, child) in fields {
                            path.push(Element::Field(field.clone()));
                            steps.push(field.clone());
                            collect(kind, child, path, steps, out);
                            steps.pop();
                            path.pop();
                        }
                    }
                    path.pop();
                }
            }
            ListStrategy::Set => {
                for item in items {
                    path.push(item_value(item));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        },
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

/// The value at `path` in `value`, if there is one.
pub fn get<'v>(value: &'v Value, path: &[Element]) -> Option<&'v Value> {
    let mut at = value;
    for element in path {
        at = match element {
            Element::Field(name) => at.get(name)?,
            Element::Key(key) => {
                let wanted: Map<String, Value> = serde_json::from_str(key).ok()?;
                at.as_array()?
                    .iter()
                    .find(|item| wanted.iter().all(|(k, v)| item.get(k) == Some(v)))?
            }
            Element::Value(v) => {
                let wanted: Value = serde_json::from_str(v).ok()?;
                at.as_array()?.iter().find(|item| **item == wanted)?
            }
        };
    }
    Some(at)
}

/// Remove the value at `path` from `value` (a field, a list item or a set item). Maps left
/// empty by the removal go too, as Go's `omitempty` drops them. Whether something was removed.
pub fn remove(value: &mut Value, path: &[Element]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let removed = {
        let Some(parent) = get_mut(value, parents) else {
            return false;
        };
        match (last, parent) {
            (Element::Field(name), Value::Object(map)) => map.remove(name).is_some(),
            (Element::Key(key), Value::Array(items)) => {
                let Ok(wanted) = serde_json::from_str::<Map<String, Value>>(key) else {
                    return false;
                };
                let before = items.len();
                items.retain(|item| !wanted.iter().all(|(k, v)| item.get(k) == Some(v)));
                items.len() != before
            }
            (Element::Value(v), Value::Array(items)) => {
                let Ok(wanted) = serde_json::from_str::<Value>(v) else {
                    return false;
                };
                let before = items.len();
                items.retain(|item| *item != wanted);
                items.len() != before
            }
            _ => false,
        }
    };
    if removed
        && !parents.is_empty()
        && matches!(parents.last(), Some(Element::Field(_)))
        && get(value, parents).is_some_and(|p| p.as_object().is_some_and(Map::is_empty))
    {
        remove(value, parents);
    }
    removed
}

fn get_mut<'v>(value: &'v mut Value, path: &[Element]) -> Option<&'v mut Value> {
    let mut at = value;
    for element in path {
        at = match element {
            Element::Field(name) => at.get_mut(name)?,
            Element::Key(key) => {
                let wanted: Map<String, Value> = serde_json::from_str(key).ok()?;
                at.as_array_mut()?
                    .iter_mut()
                    .find(|item| wanted.iter().all(|(k, v)| item.get(k) == Some(v)))?
            }
            Element::Value(v) => {
                let wanted: Value = serde_json::from_str(v).ok()?;
                at.as_array_mut()?
                    .iter_mut()
                    .find(|item| **item == wanted)?
            }
        };
    }
    Some(at)
}

/// The `FieldsV1` form of a set: a trie keyed `f:<name>`, `k:<key>`, `v:<value>`, where `.`
/// marks a node that is itself a member and has children.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for element in path {
            let key = match element {
                Element::Field(name) => format!("f:{name}"),
                Element::Key(key) => format!("k:{key}"),
                Element::Value(v) => format!("v:{v}"),
            };
            let entry = node.entry(key).or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            let Some(next) = entry.as_object_mut() else {
                break;
            };
            node = next;
        }
    }
    // Members with children get a ".".
    fn mark(node: &mut Map<String, Value>, set: &FieldSet, path: &mut Path) {
        for (key, child) in node.iter_mut() {
            let Some(element) = parse_key(key) else {
                continue;
            };
            path.push(element);
            if let Value::Object(children) = child
                && !children.is_empty()
            {
                mark(children, set, path);
                if set.contains(path) {
                    children.insert(".".into(), json!({}));
                }
            }
            path.pop();
        }
    }
    mark(&mut root, set, &mut Vec::new());
    Value::Object(root)
}

fn parse_key(key: &str) -> Option<Element> {
    let (kind, rest) = key.split_once(':')?;
    match kind {
        "f" => Some(Element::Field(rest.to_string())),
        "k" => {
            // Normalise the key object's JSON (sorted keys, no spaces).
            let parsed: Map<String, Value> = serde_json::from_str(rest).ok()?;
            Some(Element::Key(Value::Object(parsed).to_string()))
        }
        "v" => {
            let parsed: Value = serde_json::from_str(rest).ok()?;
            Some(Element::Value(parsed.to_string()))
        }
        _ => None,
    }
}

/// Read a `FieldsV1` trie back into a set.
pub fn from_fields_v1(fields: &Value) -> Result<FieldSet, FieldsError> {
    fn walk(node: &Value, path: &mut Path, out: &mut FieldSet) -> Result<(), FieldsError> {
        let map = node
            .as_object()
            .ok_or_else(|| FieldsError(format!("{} is not an object", display(path))))?;
        if map.is_empty() && !path.is_empty() {
            out.insert(path.clone());
        }
        for (key, child) in map {
            if key == "." {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
                continue;
            }
            let element =
                parse_key(key).ok_or_else(|| FieldsError(format!("unknown key {key:?}")))?;
            path.push(element);
            walk(child, path, out)?;
            path.pop();
        }
        Ok(())
    }
    let mut out = FieldSet::new();
    walk(fields, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// Whether `set` holds `path` or anything under it.
pub fn covers_or_below(set: &FieldSet, path: &[Element]) -> bool {
    set.range(path.to_vec()..)
        .next()
        .is_some_and(|p| p.starts_with(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: Kind<'static> = Kind {
        api_version: "apps/v1",
        kind: "Deployment",
    };

    fn f(name: &str) -> Element {
        Element::Field(name.into())
    }

    fn deployment() -> Value {
        json!({
            "metadata": {"labels": {"app": "web"}, "finalizers": ["a"]},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1", "args": ["-x"]}
                ]}},
            },
        })
    }

    #[test]
    fn an_objects_set_holds_leaves_list_items_and_atomic_values() {
        let set = of(DEPLOYMENT, &deployment());
        let shown: Vec<String> = set.iter().map(|p| display(p)).collect();
        assert_eq!(
            shown,
            vec![
                ".metadata.finalizers[=\"a\"]",
                ".metadata.labels.app",
                ".spec.replicas",
                ".spec.selector",
                ".spec.template.spec.containers[name=\"nginx\"]",
                ".spec.template.spec.containers[name=\"nginx\"].args",
                ".spec.template.spec.containers[name=\"nginx\"].image",
                ".spec.template.spec.containers[name=\"nginx\"].name",
            ]
        );
    }

    #[test]
    fn fields_v1_round_trips_and_marks_members_with_children() {
        let set = of(DEPLOYMENT, &deployment());
        let fields = to_fields_v1(&set);
        assert_eq!(
            fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"],
            json!({".": {}, "f:args": {}, "f:image": {}, "f:name": {}})
        );
        assert_eq!(fields["f:metadata"]["f:labels"], json!({"f:app": {}}));
        assert_eq!(fields["f:spec"]["f:selector"], json!({}));
        assert_eq!(from_fields_v1(&fields).expect("parse"), set);
        assert!(from_fields_v1(&json!({"x:bad": {}})).is_err());
        assert!(from_fields_v1(&json!({"f:a": 1})).is_err());
    }

    #[test]
    fn values_are_found_and_removed_by_path() {
        let mut obj = deployment();
        let image = vec![
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            Element::Key("{\"name\":\"nginx\"}".into()),
            f("image"),
        ];
        assert_eq!(get(&obj, &image), Some(&json!("nginx:1")));
        assert!(remove(&mut obj, &image));
        assert_eq!(get(&obj, &image), None);
        assert!(remove(&mut obj, &image[..5]));
        assert_eq!(obj["spec"]["template"]["spec"]["containers"], json!([]));
        let label = vec![f("metadata"), f("labels"), f("app")];
        assert!(remove(&mut obj, &label));
        assert!(obj["metadata"].get("labels").is_none(), "empty maps go");
        let finalizer = vec![
            f("metadata"),
            f("finalizers"),
            Element::Value("\"a\"".into()),
        ];
        assert!(remove(&mut obj, &finalizer));
        assert!(!remove(&mut obj, &finalizer));
    }

    #[test]
    fn coverage_looks_below_a_path() {
        let set = of(DEPLOYMENT, &deployment());
        assert!(covers_or_below(&set, &[f("spec"), f("template")]));
        assert!(!covers_or_below(&set, &[f("status")]));
    }
}
