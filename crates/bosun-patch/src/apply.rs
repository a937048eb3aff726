//! Server-side apply and field ownership, as pure functions over JSON objects.
//!
//! Every write records who set what in `metadata.managedFields`: one entry per manager,
//! operation (`Apply` or `Update`), API version and subresource, holding a [`FieldSet`] in
//! `FieldsV1` form.
//!
//! - [`apply`] merges an applied configuration into the live object by ownership: the
//!   manager's fields are set; fields it applied before and no longer does are removed unless
//!   another manager owns them; a field another manager owns with a different value is a
//!   [`Conflict`] unless the apply is forced, which takes the field over.
//! - [`record_update`] records an ordinary write (create, update, patch): the manager takes
//!   over every field whose value it changed, without conflicts, and fields that disappeared
//!   leave every manager.
//!
//! Upstream's engine (structured-merge-diff) reads list semantics from the OpenAPI schema;
//! bosun reads them from the same patch table its strategic merge uses
//! ([`crate::list_strategy`]), which the OpenAPI documents also publish.

use crate::field_set::{self, Element, FieldSet, Kind};
use crate::strategic::schema::ListStrategy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
use serde_json::{Map, Value, json};

/// The operation an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

/// Who writes, and how.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// The `fieldManager`.
    pub manager: &'a str,
    /// `apps/v1`.
    pub api_version: &'a str,
    /// `status`, `scale`, or none for the main resource.
    pub subresource: Option<&'a str>,
    /// Now, RFC 3339.
    pub time: &'a str,
}

/// Which top-level parts of an object a write may own: a resource with a status subresource
/// does not take `.status` through the main resource, and `/status` takes only `.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    NotStatus,
    OnlyStatus,
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The manager as upstream prints it: `"kubectl-client-side-apply" using apps/v1`.
    pub manager: String,
    /// `.spec.replicas`.
    pub field: String,
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change; the message is upstream's.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is not an object.
    #[error("{0}")]
    Invalid(String),
}

/// `Apply failed with 1 conflict: conflict with "m" using apps/v1: .spec.replicas`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager, one.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        for c in conflicts.iter().filter(|c| c.manager == manager) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// A managed-fields entry with its set read.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: Operation,
    api_version: String,
    subresource: Option<String>,
    time: Option<String>,
    fields: FieldSet,
}

impl Entry {
    fn is(&self, writer: &Writer<'_>, operation: Operation) -> bool {
        self.manager == writer.manager
            && self.operation == operation
            && self.subresource.as_deref() == writer.subresource
            && (operation == Operation::Apply || self.api_version == writer.api_version)
    }

    /// How conflicts name the manager.
    fn printed(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out = format!("{out} with subresource {sub:?}");
        }
        if self.operation == Operation::Update {
            out = match &self.time {
                Some(t) => format!("{out} using {} at {t}", self.api_version),
                None => format!("{out} using {}", self.api_version),
            };
        }
        out
    }
}

/// The entries of an object; unreadable ones are dropped, as upstream resets managed
/// fields it cannot decode.
fn read(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|raw| {
            let e: ManagedFieldsEntry = serde_json::from_value(raw.clone()).ok()?;
            let operation = match e.operation.as_deref() {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                _ => return None,
            };
            let fields = e
                .fields_v1
                .map(|f| field_set::from_fields_v1(&f.0))
                .transpose()
                .ok()?
                .unwrap_or_default();
            Some(Entry {
                manager: e.manager.unwrap_or_default(),
                operation,
                api_version: e.api_version.unwrap_or_default(),
                subresource: e.subresource.filter(|s| !s.is_empty()),
                time: raw.get("time").and_then(Value::as_str).map(String::from),
                fields,
            })
        })
        .collect()
}

/// Write the entries into `obj` (dropping empty ones; no key at all when none is left).
fn write(obj: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .filter_map(|e| {
            let entry = ManagedFieldsEntry {
                api_version: Some(e.api_version),
                fields_type: Some("FieldsV1".into()),
                fields_v1: Some(FieldsV1(field_set::to_fields_v1(&e.fields))),
                manager: Some(e.manager),
                operation: Some(e.operation.as_str().into()),
                subresource: e.subresource,
                time: e.time.and_then(|t| serde_json::from_value(json!(t)).ok()),
            };
            serde_json::to_value(entry).ok()
        })
        .collect();
    let Some(meta) = obj
        .as_object_mut()
        .map(|m| m.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// Metadata the server owns; no manager does.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The part of `obj` managers own in `scope`.
fn owned_part(obj: &Value, scope: Scope) -> Value {
    let Some(map) = obj.as_object() else {
        return json!({});
    };
    let mut out = Map::new();
    for (key, value) in map {
        let keep = match (scope, key.as_str()) {
            (_, "apiVersion" | "kind") => false,
            (Scope::OnlyStatus, k) => k == "status",
            (Scope::NotStatus, "status") => false,
            _ => true,
        };
        if !keep {
            continue;
        }
        if key == "metadata" {
            let mut meta = value.clone();
            if let Some(m) = meta.as_object_mut() {
                for field in SERVER_METADATA {
                    m.remove(*field);
                }
            }
            out.insert(key.clone(), meta);
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

/// Whether the value at a path is a leaf for conflicts: anything but a non-empty granular
/// object (a list item as a whole never conflicts; its fields do).
fn is_leaf(value: Option<&Value>) -> bool {
    !matches!(value, Some(Value::Object(m)) if !m.is_empty())
}

/// Merge `applied` into `live` as apply does: objects field by field, keyed lists item by
/// item, sets as a union, everything else replaced. A `null` removes the field.
fn merge(kind: Kind<'_>, live: &mut Value, applied: &Value, steps: &mut Vec<String>) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a))
            if !(steps.last().is_some_and(|s| s == "selector")
                && (a.contains_key("matchLabels") || a.contains_key("matchExpressions"))) =>
        {
            for (key, value) in a {
                if value.is_null() {
                    l.remove(key);
                    continue;
                }
                steps.push(key.clone());
                match l.get_mut(key) {
                    Some(existing) => merge(kind, existing, value, steps),
                    None => {
                        l.insert(key.clone(), value.clone());
                    }
                }
                steps.pop();
            }
        }
        (live @ Value::Array(_), Value::Array(a)) => {
            let strategy = {
                let s: Vec<&str> = steps.iter().map(String::as_str).collect();
                crate::list_strategy(kind.api_version, kind.kind, &s)
            };
            let Value::Array(l) = live else { return };
            match strategy {
                ListStrategy::MergeKey(key)
                    if a.iter().chain(l.iter()).all(|i| i.get(key).is_some()) =>
                {
                    for item in a {
                        match l.iter_mut().find(|i| i.get(key) == item.get(key)) {
                            Some(existing) => merge(kind, existing, item, steps),
                            None => l.push(item.clone()),
                        }
                    }
                }
                ListStrategy::Set => {
                    for item in a {
                        if !l.contains(item) {
                            l.push(item.clone());
                        }
                    }
                }
                _ => *live = Value::Array(a.clone()),
            }
        }
        (live, applied) => *live = applied.clone(),
    }
}

/// Apply `applied` (the configuration `writer` applies) to `live`, which carries its managed
/// fields. Returns the new object with its managed fields; `live` is `None` when the object
/// does not exist yet (apply creates it).
pub fn apply(
    kind: Kind<'_>,
    live: Option<&Value>,
    applied: &Value,
    writer: &Writer<'_>,
    scope: Scope,
    force: bool,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration is not an object".into(),
        ));
    }
    let empty = json!({});
    let live = live.unwrap_or(&empty);
    let mut entries = read(live);
    let applied_part = owned_part(applied, scope);
    let new_set = field_set::of(kind, &applied_part);
    let live_part = owned_part(live, scope);
    let mine = entries.iter().position(|e| e.is(writer, Operation::Apply));
    let old_set = mine.map(|i| entries[i].fields.clone()).unwrap_or_default();

    let mut conflicts = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        if Some(i) == mine {
            continue;
        }
        let clashing: Vec<_> = entry
            .fields
            .intersection(&new_set)
            .filter(|p| {
                let ours = field_set::get(&applied_part, p);
                is_leaf(ours) && field_set::get(&live_part, p) != ours
            })
            .cloned()
            .collect();
        for path in clashing {
            if force {
                entry.fields.remove(&path);
            } else {
                conflicts.push(Conflict {
                    manager: entry.printed(),
                    field: field_set::display(&path),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }

    let mut result = live.clone();
    merge(kind, &mut result, &applied_part, &mut Vec::new());
    // What the manager applied before and no longer does goes, unless someone else owns it.
    for path in old_set.difference(&new_set) {
        let others_own = entries
            .iter()
            .enumerate()
            .any(|(i, e)| Some(i) != mine && field_set::covers_or_below(&e.fields, path));
        if !others_own {
            field_set::remove(&mut result, path);
        }
    }
    let entry = Entry {
        manager: writer.manager.into(),
        operation: Operation::Apply,
        api_version: writer.api_version.into(),
        subresource: writer.subresource.map(String::from),
        time: Some(writer.time.into()),
        fields: new_set,
    };
    match mine {
        Some(i) => entries[i] = entry,
        None => entries.push(entry),
    }
    keep_existing(&result, &mut entries);
    write(&mut result, entries);
    Ok(result)
}

/// Drop from every entry the fields the object no longer has.
fn keep_existing(obj: &Value, entries: &mut [Entry]) {
    let part = owned_part(obj, Scope::All);
    for entry in entries.iter_mut() {
        entry.fields.retain(|p| field_set::get(&part, p).is_some());
    }
}

/// Record an ordinary write of `new` over `old` (`None` for a create) by `writer`: it takes
/// over every field whose value it changed. When the write itself sets `managedFields` to
/// something other than what is stored, the client's entries are kept as sent (that is how
/// kubectl moves client-side-apply ownership to server-side apply).
pub fn record_update(
    kind: Kind<'_>,
    old: Option<&Value>,
    new: &mut Value,
    writer: &Writer<'_>,
    scope: Scope,
) {
    let old_managed = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let new_managed = new.pointer("/metadata/managedFields");
    if new_managed.is_some() && new_managed != old_managed {
        let entries = read(new);
        write(new, entries);
        return;
    }
    let mut entries = old.map(read).unwrap_or_default();
    let empty = json!({});
    let old_part = owned_part(old.unwrap_or(&empty), scope);
    let new_part = owned_part(new, scope);
    let changed: FieldSet = field_set::of(kind, &new_part)
        .into_iter()
        .filter(|p| {
            let before = field_set::get(&old_part, p);
            let after = field_set::get(&new_part, p);
            match p.last() {
                Some(Element::Key(_) | Element::Value(_)) => before.is_none(),
                _ => before != after,
            }
        })
        .collect();
    for entry in entries.iter_mut() {
        if !entry.is(writer, Operation::Update) {
            entry.fields.retain(|p| !changed.contains(p));
        }
    }
    match entries.iter_mut().find(|e| e.is(writer, Operation::Update)) {
        Some(entry) => {
            if !changed.is_empty() {
                entry.time = Some(writer.time.into());
            }
            entry.fields.extend(changed);
        }
        None if !changed.is_empty() => entries.push(Entry {
            manager: writer.manager.into(),
            operation: Operation::Update,
            api_version: writer.api_version.into(),
            subresource: writer.subresource.map(String::from),
            time: Some(writer.time.into()),
            fields: changed,
        }),
        None => {}
    }
    keep_existing(new, &mut entries);
    write(new, entries);
}

/// An object without its managed fields (for Tables, and for clients that did not ask).
pub fn without_managed_fields(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: Kind<'static> = Kind {
        api_version: "apps/v1",
        kind: "Deployment",
    };

    fn writer(manager: &'static str) -> Writer<'static> {
        Writer {
            manager,
            api_version: "apps/v1",
            subresource: None,
            time: "2026-01-01T00:00:00Z",
        }
    }

    fn config(replicas: i64, image: &str, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "app", "image": image}
            ]}}},
        })
    }

    fn managers(obj: &Value) -> Vec<(String, String)> {
        obj["metadata"]["managedFields"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|e| {
                        (
                            e["manager"].as_str().unwrap_or_default().to_string(),
                            e["operation"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_first_apply_creates_and_records_the_applied_fields() {
        let applied = config(1, "nginx:1", json!({"app": "web"}));
        let obj = apply(
            KIND,
            None,
            &applied,
            &writer("kubectl"),
            Scope::NotStatus,
            false,
        )
        .expect("apply");
        assert_eq!(obj["spec"]["replicas"], 1);
        assert_eq!(managers(&obj), vec![("kubectl".into(), "Apply".into())]);
        let fields = &obj["metadata"]["managedFields"][0]["fieldsV1"];
        assert_eq!(fields["f:spec"]["f:replicas"], json!({}));
        assert!(
            fields["f:metadata"].get("f:name").is_none(),
            "server metadata"
        );
        assert!(fields.get("f:apiVersion").is_none());
    }

    #[test]
    fn fields_no_longer_applied_are_removed_unless_someone_else_owns_them() {
        let first = config(1, "nginx:1", json!({"app": "web", "tier": "front"}));
        let live = apply(
            KIND,
            None,
            &first,
            &writer("kubectl"),
            Scope::NotStatus,
            false,
        )
        .expect("first");
        // Another manager sets an annotation and takes the `tier` label by changing it.
        let mut edited = live.clone();
        edited["metadata"]["labels"]["tier"] = json!("back");
        edited["metadata"]["annotations"] = json!({"note": "x"});
        record_update(
            KIND,
            Some(&live),
            &mut edited,
            &writer("kubectl-edit"),
            Scope::NotStatus,
        );
        let second = config(1, "nginx:2", json!({"app": "web"}));
        let obj = apply(
            KIND,
            Some(&edited),
            &second,
            &writer("kubectl"),
            Scope::NotStatus,
            false,
        )
        .expect("second");
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        assert_eq!(
            obj["metadata"]["labels"]["tier"], "back",
            "kubectl-edit owns it"
        );
        assert_eq!(obj["metadata"]["annotations"]["note"], "x");
        let third = config(1, "nginx:2", json!({}));
        let mut without_app = third.clone();
        without_app["metadata"]
            .as_object_mut()
            .expect("meta")
            .remove("labels");
        let obj = apply(
            KIND,
            Some(&obj),
            &without_app,
            &writer("kubectl"),
            Scope::NotStatus,
            false,
        )
        .expect("third");
        assert!(
            obj["metadata"]["labels"].get("app").is_none(),
            "removed: {obj}"
        );
        assert_eq!(obj["metadata"]["labels"]["tier"], "back");
    }

    #[test]
    fn a_field_another_manager_set_differently_conflicts_unless_forced() {
        let applied = config(1, "nginx:1", json!({"app": "web"}));
        let live = apply(
            KIND,
            None,
            &applied,
            &writer("kubectl"),
            Scope::NotStatus,
            false,
        )
        .expect("apply");
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(3);
        let scale = Writer {
            subresource: Some("scale"),
            ..writer("kubectl-scale")
        };
        record_update(KIND, Some(&live), &mut scaled, &scale, Scope::NotStatus);
        assert_eq!(
            managers(&scaled),
            vec![
                ("kubectl".into(), "Apply".into()),
                ("kubectl-scale".into(), "Update".into())
            ]
        );
        // Re-applying the same configuration now conflicts on .spec.replicas.
        let err = apply(
            KIND,
            Some(&scaled),
            &applied,
            &writer("kubectl"),
            Scope::NotStatus,
            false,
        )
        .expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-scale\" with subresource \"scale\" using apps/v1 at 2026-01-01T00:00:00Z: .spec.replicas"
        );
        // Applying the value it already has is no conflict.
        let same = config(3, "nginx:1", json!({"app": "web"}));
        assert!(
            apply(
                KIND,
                Some(&scaled),
                &same,
                &writer("kubectl"),
                Scope::NotStatus,
                false
            )
            .is_ok()
        );
        let forced = apply(
            KIND,
            Some(&scaled),
            &applied,
            &writer("kubectl"),
            Scope::NotStatus,
            true,
        )
        .expect("forced");
        assert_eq!(forced["spec"]["replicas"], 1);
        assert_eq!(managers(&forced), vec![("kubectl".into(), "Apply".into())]);
    }

    #[test]
    fn several_conflicts_are_listed_by_manager() {
        let conflicts = vec![
            Conflict {
                manager: "\"b\"".into(),
                field: ".spec.x".into(),
            },
            Conflict {
                manager: "\"a\"".into(),
                field: ".spec.y".into(),
            },
        ];
        assert_eq!(
            conflict_message(&conflicts),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.y\nconflicts with \"b\":\n- .spec.x"
        );
    }

    #[test]
    fn keyed_lists_merge_item_by_item_and_sets_union() {
        let mut live = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}},
            "metadata": {"finalizers": ["x"]}});
        let applied = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "2"}]}}}, "metadata": {"finalizers": ["y"]}});
        merge(KIND, &mut live, &applied, &mut Vec::new());
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "1"}, {"name": "b", "image": "2"}])
        );
        assert_eq!(live["metadata"]["finalizers"], json!(["x", "y"]));
    }

    #[test]
    fn updates_take_over_changed_fields_and_creates_own_everything() {
        let mut created = config(1, "nginx:1", json!({"app": "web"}));
        record_update(
            KIND,
            None,
            &mut created,
            &writer("kubectl-create"),
            Scope::NotStatus,
        );
        assert_eq!(
            managers(&created),
            vec![("kubectl-create".into(), "Update".into())]
        );
        let mut status = created.clone();
        status["status"] = json!({"replicas": 1});
        let ctrl = Writer {
            subresource: Some("status"),
            ..writer("bosun-controller-manager")
        };
        record_update(KIND, Some(&created), &mut status, &ctrl, Scope::OnlyStatus);
        assert_eq!(
            managers(&status),
            vec![
                ("kubectl-create".into(), "Update".into()),
                ("bosun-controller-manager".into(), "Update".into())
            ]
        );
        // A write that changes nothing records nothing new.
        let mut same = status.clone();
        record_update(
            KIND,
            Some(&status),
            &mut same,
            &writer("other"),
            Scope::NotStatus,
        );
        assert_eq!(managers(&same).len(), 2);
        // Client-sent managed fields are kept as sent; an empty list clears them.
        let mut cleared = status.clone();
        cleared["metadata"]["managedFields"] = json!([]);
        record_update(
            KIND,
            Some(&status),
            &mut cleared,
            &writer("x"),
            Scope::NotStatus,
        );
        assert!(cleared["metadata"].get("managedFields").is_none());
    }
}
