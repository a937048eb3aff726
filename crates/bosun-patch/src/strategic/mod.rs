//! Strategic merge patch, as the Kubernetes API server applies it to the built-in kinds.
//!
//! Maps merge recursively and `null` deletes a key. A list field merges element-wise when the
//! built-in type tags it with a merge key (containers by name, ports by containerPort...),
//! merges as a set when its elements are primitives tagged `merge` (finalizers), and is
//! replaced otherwise; [`schema`] holds those tags. Directives steer the merge:
//!
//! | directive | where | effect |
//! | --- | --- | --- |
//! | `$patch: replace` | in a map | the map becomes the patch's map |
//! | `{"$patch": "replace"}` | as a list element | the list becomes the patch's other elements |
//! | `$patch: delete` | in a map | the map is removed from its parent |
//! | `$patch: delete` | in a list element with its merge key | that element is removed |
//! | `$patch: merge` | in a map or list element | the default: merge |
//! | `$retainKeys: [..]` | in a map | drop the map's keys not listed (a patch key must be listed) |
//! | `$setElementOrder/<f>: [..]` | beside list `f` | the order of the merged list's elements |
//! | `$deleteFromPrimitiveList/<f>: [..]` | beside list `f` | remove these values from `f` |
//!
//! Directives never reach the result. Other keys that start with `$` (a CRD schema's `$ref`)
//! are ordinary fields. [`order`] has the ordering rules.
//!
//! Where this departs from upstream on purpose: `$patch: delete` in a map removes the key
//! (upstream leaves `{}`), `$patch: merge` is accepted (upstream refuses it), container and
//! service ports are told apart by protocol as well as by port, and a patch that upstream would
//! apply with unchecked elements (a merge-keyed list element without its key in a brand-new
//! list) is refused here too.

pub mod order;
pub mod schema;

use crate::{PatchError, Result, type_name};
use order::Identity;
use schema::{ListStrategy, keys_by_protocol, list_strategy, map_is_replaced};
use serde_json::{Map, Value};
use std::fmt;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch to `target`, an object of `kind` in `api_version`.
///
/// The patch must be a JSON object. A refused patch leaves `target` as it was.
///
/// ```
/// use serde_json::json;
/// let mut deployment = json!({"spec": {"template": {"spec": {"containers": [
///     {"name": "app", "image": "nginx:1"}, {"name": "side", "image": "busybox"}]}}}});
/// let patch = json!({"spec": {"template": {"spec": {
///     "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
///     "containers": [{"name": "app", "image": "nginx:2"}]}}}});
/// bosun_patch::strategic_merge_patch(&mut deployment, &patch, "apps/v1", "Deployment")?;
/// assert_eq!(deployment["spec"]["template"]["spec"]["containers"], json!([
///     {"name": "app", "image": "nginx:2"}, {"name": "side", "image": "busybox"}]));
/// # Ok::<(), bosun_patch::PatchError>(())
/// ```
pub fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    api_version: &str,
    kind: &str,
) -> Result<()> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Invalid(format!(
            "a strategic merge patch must be a JSON object, not {}",
            type_name(patch)
        )));
    };
    let mut doc = match target {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let merger = Merger { api_version, kind };
    if merger.merge_map(&mut doc, patch, &mut Path::default())? == Outcome::Delete {
        doc.clear();
    }
    *target = Value::Object(doc);
    Ok(())
}

fn is_directive(key: &str) -> bool {
    key == PATCH
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// Where in the document the merge is, for list strategies (the field names) and for error
/// messages (with list indices).
#[derive(Debug, Default)]
struct Path(Vec<Segment>);

#[derive(Debug)]
enum Segment {
    Field(String),
    Index(usize),
}

impl Path {
    fn push_field(&mut self, field: &str) {
        self.0.push(Segment::Field(field.to_owned()));
    }

    fn push_index(&mut self, index: usize) {
        self.0.push(Segment::Index(index));
    }

    fn pop(&mut self) {
        self.0.pop();
    }

    fn fields(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter_map(|s| match s {
                Segment::Field(f) => Some(f.as_str()),
                Segment::Index(_) => None,
            })
            .collect()
    }

    /// The name of the innermost field (the list being merged).
    fn field(&self) -> &str {
        self.0
            .iter()
            .rev()
            .find_map(|s| match s {
                Segment::Field(f) => Some(f.as_str()),
                Segment::Index(_) => None,
            })
            .unwrap_or_default()
    }

    fn invalid(&self, message: impl fmt::Display) -> PatchError {
        PatchError::Invalid(format!(
            "invalid strategic merge patch at {self}: {message}"
        ))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("the top level");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Field(field) if i == 0 => f.write_str(field)?,
                Segment::Field(field) => write!(f, ".{field}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// What became of a merged map.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    /// `$patch: delete`: remove it from its parent.
    Delete,
}

/// The `$patch` directive of a map or list element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

fn directive(map: &Map<String, Value>, path: &Path) -> Result<Option<Directive>> {
    match map.get(PATCH) {
        None => Ok(None),
        Some(Value::String(d)) if d == "merge" => Ok(Some(Directive::Merge)),
        Some(Value::String(d)) if d == "replace" => Ok(Some(Directive::Replace)),
        Some(Value::String(d)) if d == "delete" => Ok(Some(Directive::Delete)),
        Some(other) => Err(path.invalid(format_args!(
            "unknown $patch directive {other}: expected \"replace\", \"delete\" or \"merge\""
        ))),
    }
}

/// The merge of one patch into one object of a known kind.
#[derive(Debug)]
struct Merger<'a> {
    api_version: &'a str,
    kind: &'a str,
}

impl Merger<'_> {
    fn list_strategy(&self, path: &Path) -> ListStrategy {
        list_strategy(self.api_version, self.kind, &path.fields())
    }

    /// Merges `patch` into `target`.
    fn merge_map(
        &self,
        target: &mut Map<String, Value>,
        patch: &Map<String, Value>,
        path: &mut Path,
    ) -> Result<Outcome> {
        match directive(patch, path)? {
            None | Some(Directive::Merge) => {}
            Some(Directive::Delete) => return Ok(Outcome::Delete),
            Some(Directive::Replace) => {
                let rest: Map<String, Value> = patch
                    .iter()
                    .filter(|(k, _)| *k != PATCH)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let mut fresh = Map::new();
                self.merge_map(&mut fresh, &rest, path)?;
                *target = fresh;
                return Ok(Outcome::Keep);
            }
        }
        if let Some(retain) = patch.get(RETAIN_KEYS) {
            retain_keys(target, patch, retain, path)?;
        }

        let mut orders: Vec<(&str, Vec<&Value>)> = Vec::new();
        let mut deletions: Vec<(&str, &Vec<Value>)> = Vec::new();
        for (key, value) in patch {
            if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
                let Value::Array(order) = value else {
                    return Err(path.invalid(format_args!("{key} must be a list")));
                };
                orders.push((field, order.iter().collect()));
            } else if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                let Value::Array(values) = value else {
                    return Err(path.invalid(format_args!("{key} must be a list")));
                };
                deletions.push((field, values));
            }
        }

        for (key, value) in patch {
            if is_directive(key)
                || (value.is_array() && orders.iter().any(|(field, _)| field == key))
            {
                continue;
            }
            path.push_field(key);
            self.merge_field(target, key, value, None, path)?;
            path.pop();
        }

        // A list with `$setElementOrder` merges with its order; the order alone reorders the
        // live list.
        for (field, order) in orders {
            path.push_field(field);
            match patch.get(field) {
                Some(value @ Value::Array(_)) => {
                    self.merge_field(target, field, value, Some(order.as_slice()), path)?;
                }
                None if self.list_strategy(path) != ListStrategy::Replace => {
                    if let Some(Value::Array(list)) = target.get_mut(field) {
                        let live = std::mem::take(list);
                        *list = self.merge_list(live, &[], Some(order.as_slice()), path)?;
                    }
                }
                _ => {}
            }
            path.pop();
        }

        for (field, values) in deletions {
            if let Some(Value::Array(list)) = target.get_mut(field) {
                list.retain(|v| !values.contains(v));
            }
        }
        Ok(Outcome::Keep)
    }

    /// Merges the patch's `value` for `key` into `target`.
    fn merge_field(
        &self,
        target: &mut Map<String, Value>,
        key: &str,
        value: &Value,
        order: Option<&[&Value]>,
        path: &mut Path,
    ) -> Result<()> {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(patch) => {
                let outcome = match target.get_mut(key) {
                    Some(Value::Object(live))
                        if !map_is_replaced(self.api_version, self.kind, &path.fields()) =>
                    {
                        self.merge_map(live, patch, path)?
                    }
                    _ => {
                        let mut fresh = Map::new();
                        let outcome = self.merge_map(&mut fresh, patch, path)?;
                        target.insert(key.to_owned(), Value::Object(fresh));
                        outcome
                    }
                };
                if outcome == Outcome::Delete {
                    target.remove(key);
                }
            }
            Value::Array(items) => {
                let live = match target.get_mut(key) {
                    Some(Value::Array(live)) => std::mem::take(live),
                    _ => Vec::new(),
                };
                let merged = self.merge_list(live, items, order, path)?;
                target.insert(key.to_owned(), Value::Array(merged));
            }
            scalar => {
                target.insert(key.to_owned(), scalar.clone());
            }
        }
        Ok(())
    }

    /// Merges the patch's list `patch` into the `live` list at `path`, ordering the result by
    /// `order` (a `$setElementOrder` list) when given.
    fn merge_list(
        &self,
        live: Vec<Value>,
        patch: &[Value],
        order: Option<&[&Value]>,
        path: &mut Path,
    ) -> Result<Vec<Value>> {
        match self.list_strategy(path) {
            ListStrategy::Replace => self.replace_list(patch, path),
            ListStrategy::Set => merge_set(live, patch, order, path),
            ListStrategy::MergeKey(key) => self.merge_keyed(live, patch, key, order, path),
        }
    }

    /// The patch's list as it stands, less its directives.
    fn replace_list(&self, patch: &[Value], path: &mut Path) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(patch.len());
        for (i, item) in patch.iter().enumerate() {
            path.push_index(i);
            match item {
                Value::Object(map) => match directive(map, path)? {
                    // List markers, and elements to delete from a list that is replaced.
                    Some(Directive::Replace | Directive::Delete) => {}
                    None | Some(Directive::Merge) => {
                        let mut fresh = Map::new();
                        self.merge_map(&mut fresh, map, path)?;
                        out.push(Value::Object(fresh));
                    }
                },
                Value::Array(inner) => out.push(Value::Array(self.replace_list(inner, path)?)),
                other => out.push(other.clone()),
            }
            path.pop();
        }
        Ok(out)
    }

    /// A list of objects merged element-wise by `key`.
    fn merge_keyed(
        &self,
        live: Vec<Value>,
        patch: &[Value],
        key: &'static str,
        order: Option<&[&Value]>,
        path: &mut Path,
    ) -> Result<Vec<Value>> {
        let id = Identity::Key {
            key,
            protocol: keys_by_protocol(key),
        };
        let field = path.field().to_owned();
        let mut merged = live.clone();
        let mut replace = false;
        let mut elements: Vec<(usize, &Value)> = Vec::new();
        for (i, item) in patch.iter().enumerate() {
            path.push_index(i);
            let Value::Object(map) = item else {
                return Err(path.invalid(format_args!(
                    "the elements of {field} must be objects merged by {key:?}, not {}",
                    type_name(item)
                )));
            };
            let has_key = map.get(key).is_some_and(|v| !v.is_null());
            match directive(map, path)? {
                Some(Directive::Replace) => replace = true,
                Some(Directive::Delete) if has_key => merged.retain(|e| !id.names(item, e)),
                // A bare `{"$patch": "merge"}` says what merging does anyway.
                Some(Directive::Merge) if map.len() == 1 => {}
                _ if !has_key => {
                    return Err(path.invalid(format_args!(
                        "an element of {field} has no {key:?}, the key {field} merges by"
                    )));
                }
                _ => elements.push((i, item)),
            }
            path.pop();
        }

        if replace {
            let rest: Vec<Value> = elements.iter().map(|(_, v)| (*v).clone()).collect();
            return self.replace_list(&rest, path);
        }
        if let Some(order) = order {
            check_order(order, &elements, id, path)?;
        }

        for &(i, item) in &elements {
            path.push_index(i);
            let Value::Object(map) = item else {
                continue;
            };
            match id.find(&merged, item) {
                Some(at) => {
                    if let Some(Value::Object(element)) = merged.get_mut(at)
                        && self.merge_map(element, map, path)? == Outcome::Delete
                    {
                        merged.remove(at);
                    }
                }
                None => {
                    let mut fresh = Map::new();
                    if self.merge_map(&mut fresh, map, path)? == Outcome::Keep {
                        merged.push(Value::Object(fresh));
                    }
                }
            }
            path.pop();
        }

        let patched: Vec<&Value> = elements.iter().map(|&(_, v)| v).collect();
        Ok(order::normalize(
            merged,
            order.unwrap_or(&patched),
            &live,
            id,
        ))
    }
}

/// Applies `$retainKeys` to `target`: keys it does not list go; the patch may not set a key it
/// does not list.
fn retain_keys(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
    path: &Path,
) -> Result<()> {
    let keys: Option<Vec<&str>> = match retain {
        Value::Array(keys) => keys.iter().map(Value::as_str).collect(),
        _ => None,
    };
    let Some(keys) = keys else {
        return Err(path.invalid("$retainKeys must be a list of field names"));
    };
    if let Some((key, _)) = patch
        .iter()
        .find(|(k, v)| !v.is_null() && !is_directive(k) && !keys.contains(&k.as_str()))
    {
        return Err(path.invalid(format_args!(
            "the patch sets {key:?}, which $retainKeys does not list"
        )));
    }
    target.retain(|k, _| keys.contains(&k.as_str()));
    Ok(())
}

/// A list of primitives merged as a set.
fn merge_set(
    live: Vec<Value>,
    patch: &[Value],
    order: Option<&[&Value]>,
    path: &mut Path,
) -> Result<Vec<Value>> {
    let field = path.field().to_owned();
    let mut replace = false;
    let mut added: Vec<&Value> = Vec::new();
    for (i, item) in patch.iter().enumerate() {
        path.push_index(i);
        match item {
            Value::Object(map) => match directive(map, path)? {
                Some(Directive::Replace) => replace = true,
                Some(Directive::Merge) if map.len() == 1 => {}
                _ => {
                    return Err(path.invalid(format_args!(
                        "{field} is a list of primitives merged as a set, not of objects"
                    )));
                }
            },
            Value::Array(_) => {
                return Err(path.invalid(format_args!(
                    "{field} is a list of primitives merged as a set, not of lists"
                )));
            }
            value => added.push(value),
        }
        path.pop();
    }
    if replace {
        return Ok(added.into_iter().cloned().collect());
    }
    if let Some(order) = order {
        if let Some(entry) = order.iter().find(|v| v.is_object() || v.is_array()) {
            return Err(path.invalid(format_args!(
                "$setElementOrder/{field} lists primitives, not {}",
                type_name(entry)
            )));
        }
        if !order::agrees(&added, order, Identity::Value) {
            return Err(path.invalid(format_args!(
                "the order of {field} in the patch does not match $setElementOrder/{field}"
            )));
        }
    }
    let mut merged: Vec<Value> = Vec::with_capacity(live.len() + added.len());
    for value in live.iter().chain(added.iter().copied()) {
        if !merged.contains(value) {
            merged.push(value.clone());
        }
    }
    Ok(order::normalize(
        merged,
        order.unwrap_or(&added),
        &live,
        Identity::Value,
    ))
}

/// Checks a `$setElementOrder` list of a merge-keyed list against the patch's elements.
fn check_order(
    order: &[&Value],
    elements: &[(usize, &Value)],
    id: Identity,
    path: &Path,
) -> Result<()> {
    let field = path.field();
    let Identity::Key { key, .. } = id else {
        return Ok(());
    };
    if let Some(i) = order
        .iter()
        .position(|entry| entry.get(key).is_none_or(Value::is_null))
    {
        return Err(path.invalid(format_args!(
            "entry {i} of $setElementOrder/{field} has no {key:?}, the key {field} merges by"
        )));
    }
    let patched: Vec<&Value> = elements.iter().map(|&(_, v)| v).collect();
    if !order::agrees(&patched, order, id) {
        return Err(path.invalid(format_args!(
            "the order of {field} in the patch does not match $setElementOrder/{field}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
