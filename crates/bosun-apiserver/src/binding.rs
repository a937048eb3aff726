//! The pod binding's decision (`POST pods/<name>/binding`), on the stored bytes: a binding
//! sets `spec.nodeName` once, copies the binding's annotations onto the pod (as
//! kube-apiserver does) and sets PodScheduled=True. Only the members it edits are decoded
//! (the top level of `metadata`, `spec` and `status`, the annotations and the conditions): the
//! scheduler binds thousands of pods a second, and decoding each whole pod into a `Value`,
//! copying and encoding it again was most of a binding's cost on the API server.

use crate::object::{RawMembers as Members, members_json, write_spliced};
use bosun_api::{ApiError, ResourceInfo};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn internal(e: serde_json::Error) -> ApiError {
    ApiError::internal(&format!("stored object: {e}"))
}

fn raw(value: &impl serde::Serialize) -> Result<Box<RawValue>, ApiError> {
    serde_json::value::to_raw_value(value).map_err(internal)
}

/// The members of a member, when it is an object; `None` when it is absent or not an object
/// (left as it is).
fn members_of<'a>(parent: &Members<'a>, key: &str) -> Option<Members<'a>> {
    parent
        .get(key)
        .and_then(|r| serde_json::from_str::<Members<'a>>(r.get()).ok())
}

/// A member as a string, when it is one.
fn str_member(members: &Members, key: &str) -> Option<String> {
    members
        .get(key)
        .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
        .and_then(|v| v.as_str().map(str::to_string))
}

/// The stored pod `old` bound to `node` by `binding`, encoded for the store, with
/// PodScheduled's lastTransitionTime `now`; a conflict when the pod is bound already or is not
/// the binding's (its uid).
pub fn bound_pod(
    res: &ResourceInfo,
    name: &str,
    binding: &Value,
    node: &str,
    old: &[u8],
    now: &str,
) -> Result<Vec<u8>, ApiError> {
    let top: Members = serde_json::from_slice(old).map_err(internal)?;
    let meta = members_of(&top, "metadata")
        .ok_or_else(|| ApiError::internal("stored object: metadata is not an object"))?;
    let spec = members_of(&top, "spec");
    if let Some(current) = spec
        .as_ref()
        .and_then(|s| str_member(s, "nodeName"))
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError::conflict_message(
            res,
            name,
            &format!("pod {name} is already assigned to node \"{current}\""),
        ));
    }
    if let Some(uid) = binding.pointer("/metadata/uid").and_then(Value::as_str)
        && str_member(&meta, "uid").as_deref() != Some(uid)
    {
        return Err(ApiError::conflict_message(
            res,
            name,
            &format!("Precondition failed: UID in precondition: {uid}"),
        ));
    }
    // The members the binding writes, encoded once.
    let node_raw = raw(&node)?;
    let annotations = binding
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .filter(|a| !a.is_empty())
        .and_then(|added| {
            let existing = match meta.get("annotations") {
                None => Some(BTreeMap::new()),
                // Annotations that are not an object are left as they are.
                Some(r) => serde_json::from_str::<BTreeMap<String, Value>>(r.get()).ok(),
            };
            existing.map(|mut merged| {
                merged.extend(added.iter().map(|(k, v)| (k.clone(), v.clone())));
                merged
            })
        })
        .map(|merged| raw(&merged))
        .transpose()?;
    let status_old = match top.get("status") {
        None => Some(Members::new()),
        Some(_) => members_of(&top, "status"),
    };
    let conditions = status_old
        .as_ref()
        .map(|status| {
            let mut conditions: Vec<Value> = status
                .get("conditions")
                .and_then(|r| serde_json::from_str::<Vec<Value>>(r.get()).ok())
                .unwrap_or_default();
            conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
            conditions.push(json!({"type": "PodScheduled", "status": "True",
                "lastProbeTime": null, "lastTransitionTime": now}));
            raw(&conditions)
        })
        .transpose()?;

    let mut meta = meta;
    if let Some(a) = &annotations {
        meta.insert("annotations".into(), a);
    }
    let mut spec = spec;
    if let Some(spec) = spec.as_mut() {
        spec.insert("nodeName".into(), &node_raw);
    }
    let mut status = status_old;
    if let (Some(status), Some(c)) = (status.as_mut(), &conditions) {
        status.insert("conditions".into(), c);
    }
    // The top level as stored, with the edited members written from their members (a status
    // added when there was none).
    let mut edited = vec![("metadata", members_json(&meta).map_err(internal)?)];
    if let Some(spec) = &spec {
        edited.push(("spec", members_json(spec).map_err(internal)?));
    }
    if let Some(status) = &status {
        edited.push(("status", members_json(status).map_err(internal)?));
    }
    let mut out = Vec::with_capacity(old.len() + 512);
    write_spliced(&mut out, &top, &edited).map_err(internal)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> &'static ResourceInfo {
        bosun_api::resources::find("", "v1", "pods").expect("pods")
    }

    const NOW: &str = "2026-12-07T00:00:00Z";

    fn bind(binding: &Value, node: &str, old: &Value) -> Result<Value, ApiError> {
        let bytes = serde_json::to_vec(old).expect("encode");
        let new = bound_pod(pods(), "p", binding, node, &bytes, NOW)?;
        Ok(serde_json::from_slice(&new).expect("the result is JSON"))
    }

    fn binding(uid: Option<&str>, annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": "p", "uid": uid, "annotations": annotations},
            "target": {"kind": "Node", "name": "n1"}})
    }

    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "uid": "u1",
                "annotations": {"keep": "me"},
                "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:containers": {}}}}]},
            "spec": {"schedulerName": "default-scheduler",
                "containers": [{"name": "c", "image": "i\u{e9}\"q",
                    "resources": {"requests": {"cpu": "100m"}}}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available"},
                {"type": "Other", "status": "True"}]}})
    }

    #[test]
    fn a_binding_sets_the_node_the_annotations_and_the_condition_and_nothing_else() {
        let new = bind(
            &binding(
                Some("u1"),
                json!({"scheduling.bosun.dev/explanation": "{\"a\":1}"}),
            ),
            "n1",
            &pod(),
        )
        .expect("bound");
        let mut want = pod();
        want["spec"]["nodeName"] = json!("n1");
        want["metadata"]["annotations"]["scheduling.bosun.dev/explanation"] = json!("{\"a\":1}");
        want["status"]["conditions"] = json!([{"type": "Other", "status": "True"},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                "lastTransitionTime": NOW}]);
        assert_eq!(new, want);
    }

    #[test]
    fn a_pod_without_status_or_annotations_gets_them() {
        let mut old = pod();
        let meta = old["metadata"].as_object_mut().expect("metadata");
        meta.remove("annotations");
        old.as_object_mut().expect("pod").remove("status");
        let new = bind(&binding(None, json!({"a": "b"})), "n2", &old).expect("bound");
        assert_eq!(new["spec"]["nodeName"], "n2");
        assert_eq!(new["metadata"]["annotations"], json!({"a": "b"}));
        assert_eq!(
            new["status"],
            json!({"conditions": [{"type": "PodScheduled", "status": "True",
                "lastProbeTime": null, "lastTransitionTime": NOW}]})
        );
        // No annotations in the binding: none added.
        let mut old = pod();
        old["metadata"]
            .as_object_mut()
            .expect("meta")
            .remove("annotations");
        let new = bind(&binding(None, json!({})), "n2", &old).expect("bound");
        assert_eq!(new["metadata"].get("annotations"), None);
    }

    #[test]
    fn a_bound_pod_or_another_uid_is_a_conflict() {
        let mut bound = pod();
        bound["spec"]["nodeName"] = json!("n0");
        let e = bind(&binding(None, json!({})), "n1", &bound).expect_err("bound already");
        assert_eq!(e.code(), 409);
        assert!(
            e.message().contains("already assigned to node \"n0\""),
            "{}",
            e.message()
        );
        let e = bind(&binding(Some("u2"), json!({})), "n1", &pod()).expect_err("other uid");
        assert_eq!(e.code(), 409);
        assert!(
            e.message().contains("UID in precondition: u2"),
            "{}",
            e.message()
        );
        // An empty or null nodeName is not a binding.
        for empty in [json!(""), Value::Null] {
            let mut old = pod();
            old["spec"]["nodeName"] = empty;
            assert_eq!(
                bind(&binding(None, json!({})), "n1", &old).expect("bound")["spec"]["nodeName"],
                "n1"
            );
        }
    }

    #[test]
    fn stored_bytes_that_are_not_a_pod_object_are_an_internal_error_not_a_panic() {
        for bytes in [&b"[1]"[..], b"{\"metadata\": 3}", b"{", b""] {
            let e = bound_pod(pods(), "p", &binding(None, json!({})), "n1", bytes, NOW)
                .expect_err("not an object");
            assert_eq!(e.code(), 500);
        }
    }
}
