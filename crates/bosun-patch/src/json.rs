//! The two RFC patch formats: JSON patch (RFC 6902) and JSON merge patch (RFC 7386), from the
//! `json-patch` crate, with the behaviour Kubernetes clients rely on around it.

use crate::{PatchError, Result, type_name};
use json_patch::{PatchOperation, TestOperation};
use serde_json::Value;

/// Applies an RFC 7386 merge patch: objects merge recursively, `null` deletes a key, anything
/// else (lists included) replaces. `kubectl scale`, `label` and `annotate` send these.
///
/// The patch must be a JSON object (the API server's objects are objects).
pub fn merge_patch(target: &mut Value, patch: &Value) -> Result<()> {
    if !patch.is_object() {
        return Err(PatchError::Invalid(format!(
            "a merge patch must be a JSON object, not {}",
            type_name(patch)
        )));
    }
    json_patch::merge(target, patch);
    Ok(())
}

/// Applies an RFC 6902 JSON patch: a list of `add`, `remove`, `replace`, `move`, `copy` and
/// `test` operations, all or nothing. `kubectl rollout undo` and kube-runtime's finalizer
/// helper send these.
///
/// As in Kubernetes (evanphx/json-patch), a `test` for `null` holds when the path's parent
/// exists and the path itself does not: kube-runtime adds the first finalizer with
/// `test /metadata/finalizers == null` then `add`.
///
/// Errors: a patch that is not a list of well-formed operations is [`PatchError::Invalid`]; a
/// failed `test` or a path that does not exist is [`PatchError::Failed`]. On error `target` is
/// unchanged.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<()> {
    let Value::Array(ops) = patch else {
        return Err(PatchError::Invalid(format!(
            "a JSON patch must be a list of operations, not {}",
            type_name(patch)
        )));
    };
    let ops = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            serde_json::from_value::<PatchOperation>(op.clone())
                .map_err(|e| PatchError::Invalid(format!("invalid JSON patch operation {i}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;

    let mut doc = target.clone();
    for (i, op) in ops.iter().enumerate() {
        match op {
            PatchOperation::Test(test) if test.value.is_null() => test_null(&doc, test, i)?,
            _ => json_patch::patch_unsafe(&mut doc, std::slice::from_ref(op)).map_err(|e| {
                PatchError::Failed(format!(
                    "JSON patch operation {i} ({} {}) failed: {}",
                    op_name(op),
                    op.path(),
                    e.kind
                ))
            })?,
        }
    }
    *target = doc;
    Ok(())
}

/// A `test` for `null`: holds if the value is null, or absent under an existing parent.
fn test_null(doc: &Value, test: &TestOperation, i: usize) -> Result<()> {
    let path = test.path.as_str();
    let holds = match doc.pointer(path) {
        Some(value) => value.is_null(),
        None => {
            let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
            doc.pointer(parent)
                .is_some_and(|p| p.is_object() || p.is_array())
        }
    };
    if holds {
        Ok(())
    } else {
        Err(PatchError::Failed(format!(
            "JSON patch operation {i} (test {path}) failed: value did not match"
        )))
    }
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "back"},
                "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": 2, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:3"}]}}}})
    }

    #[test]
    fn kubectl_scale_merge_patch_sets_replicas() {
        let mut d = deployment();
        merge_patch(&mut d, &json!({"spec": {"replicas": 5}})).expect("patch");
        assert_eq!(d["spec"]["replicas"], 5);
        assert_eq!(d["spec"]["template"], deployment()["spec"]["template"]);
    }

    #[test]
    fn kubectl_label_merge_patch_sets_and_removes_labels() {
        let mut d = deployment();
        merge_patch(
            &mut d,
            &json!({"metadata": {"labels": {"tier": null, "env": "prod"}}}),
        )
        .expect("patch");
        assert_eq!(
            d["metadata"]["labels"],
            json!({"app": "web", "env": "prod"})
        );
    }

    #[test]
    fn merge_patch_replaces_lists_whole() {
        let mut d = deployment();
        merge_patch(
            &mut d,
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "other"}]}}}}),
        )
        .expect("patch");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "other"}])
        );
    }

    #[test]
    fn merge_patch_that_is_not_an_object_is_invalid() {
        let mut d = deployment();
        for bad in [json!([1]), json!("x"), json!(null), json!(3)] {
            assert!(
                matches!(merge_patch(&mut d, &bad), Err(PatchError::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(d, deployment());
    }

    #[test]
    fn kubectl_rollout_undo_json_patch_replaces_the_template() {
        let mut d = deployment();
        let old_template = json!({"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}});
        let undo = json!([
            {"op": "replace", "path": "/spec/template", "value": old_template},
            {"op": "replace", "path": "/metadata/annotations",
             "value": {"deployment.kubernetes.io/revision": "3"}}
        ]);
        json_patch(&mut d, &undo).expect("rollout undo's patch");
        assert_eq!(d["spec"]["template"], old_template);
        assert_eq!(d["spec"]["replicas"], 2);
    }

    #[test]
    fn json_patch_supports_every_operation() {
        let mut d = json!({"a": {"b": 1}, "list": [1, 2]});
        json_patch(
            &mut d,
            &json!([
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "remove", "path": "/list/0"},
                {"op": "copy", "from": "/a", "path": "/c"},
                {"op": "move", "from": "/a/b", "path": "/moved"},
                {"op": "test", "path": "/c/b", "value": 1},
                {"op": "add", "path": "/a/x~1y", "value": true}
            ]),
        )
        .expect("patch");
        assert_eq!(
            d,
            json!({"a": {"x/y": true}, "list": [2, 3], "c": {"b": 1}, "moved": 1})
        );
    }

    #[test]
    fn kube_runtime_adds_the_first_finalizer_after_testing_for_null() {
        let mut d = deployment();
        let add_first = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/cleanup"]}
        ]);
        json_patch(&mut d, &add_first).expect("absent finalizers test as null");
        assert_eq!(d["metadata"]["finalizers"], json!(["example.com/cleanup"]));
        // Now that they exist the same patch must fail: someone else got there first.
        assert!(matches!(
            json_patch(&mut d, &add_first),
            Err(PatchError::Failed(_))
        ));
        // The follow-up form tests the whole list, then appends.
        json_patch(
            &mut d,
            &json!([
                {"op": "test", "path": "/metadata/finalizers", "value": ["example.com/cleanup"]},
                {"op": "add", "path": "/metadata/finalizers/-", "value": "example.com/other"}
            ]),
        )
        .expect("patch");
        assert_eq!(
            d["metadata"]["finalizers"],
            json!(["example.com/cleanup", "example.com/other"])
        );
    }

    #[test]
    fn a_test_for_null_under_a_missing_parent_fails() {
        let mut d = deployment();
        assert!(matches!(
            json_patch(
                &mut d,
                &json!([{"op": "test", "path": "/status/nope/x", "value": null}])
            ),
            Err(PatchError::Failed(_))
        ));
        json_patch(
            &mut d,
            &json!([{"op": "test", "path": "/metadata/nothing", "value": null}]),
        )
        .expect("absent under an existing parent is null");
    }

    #[test]
    fn a_failed_test_applies_nothing() {
        let mut d = deployment();
        let failing = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 9},
            {"op": "test", "path": "/spec/replicas", "value": 2}
        ]);
        let err = json_patch(&mut d, &failing).expect_err("test fails");
        assert!(
            matches!(&err, PatchError::Failed(m) if m.contains("operation 1")),
            "{err}"
        );
        assert_eq!(d, deployment());
    }

    #[test]
    fn a_missing_path_fails() {
        let mut d = deployment();
        for op in [
            json!({"op": "replace", "path": "/spec/nope", "value": 1}),
            json!({"op": "remove", "path": "/metadata/finalizers"}),
            json!({"op": "add", "path": "/status/a/b", "value": 1}),
            json!({"op": "move", "from": "/nope", "path": "/x"}),
            json!({"op": "add", "path": "/spec/template/spec/containers/7", "value": {}}),
        ] {
            assert!(
                matches!(json_patch(&mut d, &json!([op])), Err(PatchError::Failed(_))),
                "{op}"
            );
        }
        assert_eq!(d, deployment());
    }

    #[test]
    fn a_json_patch_that_is_not_a_list_of_operations_is_invalid() {
        let mut d = deployment();
        for bad in [
            json!({"op": "add", "path": "/x", "value": 1}),
            json!([{"op": "frobnicate", "path": "/x"}]),
            json!([{"op": "add", "path": "/x"}]),
            json!([{"op": "add", "path": "no-slash", "value": 1}]),
            json!([1]),
            json!("[]"),
        ] {
            assert!(
                matches!(json_patch(&mut d, &bad), Err(PatchError::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(d, deployment());
    }

    #[test]
    fn an_empty_json_patch_changes_nothing() {
        let mut d = deployment();
        json_patch(&mut d, &json!([])).expect("patch");
        assert_eq!(d, deployment());
    }
}
