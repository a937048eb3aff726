//! The pod binding's decision (`POST pods/<name>/binding`), on the stored bytes: a binding
//! sets `spec.nodeName` once, copies the binding's annotations onto the pod (as
//! kube-apiserver does) and sets PodScheduled=True. Only the members it edits are decoded
//! (the top level of `metadata`, `spec` and `status`, the annotations and the conditions): the
//! scheduler binds thousands of pods a second, and decoding each whole pod into a `Value`,
//! copying and encoding it again was most of a binding's cost on the API server.

use crate::object::{RawMembers, write_members};
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

/// The members of an object member, when it is an object; `None` when it is absent or not an
/// object (left as it is).
fn members_of(parent: &RawMembers, key: &str) -> Option<RawMembers> {
    parent
        .get(key)
        .and_then(|r| serde_json::from_str::<RawMembers>(r.get()).ok())
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
    let mut top: RawMembers = serde_json::from_slice(old).map_err(internal)?;
    let mut meta = members_of(&top, "metadata")
        .ok_or_else(|| ApiError::internal("stored object: metadata is not an object"))?;
    let mut spec = members_of(&top, "spec");
    let current = spec
        .as_ref()
        .and_then(|s| s.get("nodeName"))
        .and_then(|r| serde_json::from_str::<Value>(r.get()).ok());
    if let Some(current) = current.as_ref().and_then(Value::as_str)
        && !current.is_empty()
    {
        return Err(ApiError::conflict_message(
            res,
            name,
            &format!("pod {name} is already assigned to node \"{current}\""),
        ));
    }
    if let Some(uid) = binding.pointer("/metadata/uid").and_then(Value::as_str) {
        let stored = meta
            .get("uid")
            .and_then(|r| serde_json::from_str::<Value>(r.get()).ok());
        if stored.as_ref().and_then(Value::as_str) != Some(uid) {
            return Err(ApiError::conflict_message(
                res,
                name,
                &format!("Precondition failed: UID in precondition: {uid}"),
            ));
        }
    }
    if let Some(spec) = spec.as_mut() {
        spec.insert("nodeName".into(), raw(&node)?);
    }
    if let Some(annotations) = binding
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .filter(|a| !a.is_empty())
    {
        let existing = match meta.get("annotations") {
            None => Some(BTreeMap::new()),
            // Annotations that are not an object are left as they are.
            Some(r) => serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(r.get()).ok(),
        };
        if let Some(mut target) = existing {
            for (k, v) in annotations {
                target.insert(k.clone(), raw(v)?);
            }
            meta.insert("annotations".into(), raw(&target)?);
        }
    }
    let status = match top.get("status") {
        None => Some(RawMembers::new()),
        Some(_) => members_of(&top, "status"),
    };
    if let Some(mut status) = status {
        let mut conditions: Vec<Value> = status
            .get("conditions")
            .and_then(|r| serde_json::from_str::<Vec<Value>>(r.get()).ok())
            .unwrap_or_default();
        conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        conditions.push(json!({"type": "PodScheduled", "status": "True",
            "lastProbeTime": null, "lastTransitionTime": now}));
        status.insert("conditions".into(), raw(&conditions)?);
        top.insert("status".into(), members_raw(&status)?);
    }
    if let Some(spec) = spec {
        top.insert("spec".into(), members_raw(&spec)?);
    }
    top.insert("metadata".into(), members_raw(&meta)?);
    let mut out = Vec::with_capacity(old.len() + 512);
    write_members(&mut out, &top).map_err(internal)?;
    Ok(out)
}

fn members_raw(members: &RawMembers) -> Result<Box<RawValue>, ApiError> {
    let mut out = Vec::new();
    write_members(&mut out, members).map_err(internal)?;
    let text = String::from_utf8(out).map_err(|e| ApiError::internal(&e.to_string()))?;
    RawValue::from_string(text).map_err(internal)
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
