//! The patch formats the Kubernetes API accepts, as pure functions over JSON values.
//!
//! Start with [`strategic_merge_patch`] (`strategic.rs`), the format kubectl sends by default:
//! maps merge, some lists merge element-wise by a key ([`list_strategy`] says which, from the
//! built-in types' patch tags), and `$`-directives steer it. [`merge_patch`] (RFC 7386) and
//! [`json_patch`] (RFC 6902) come from the `json-patch` crate.

pub mod strategic;

pub use strategic::{ListStrategy, list_strategy, strategic_merge_patch};

use serde_json::Value;

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not valid for its type (the message says where).
    #[error("{0}")]
    Invalid(String),
    /// A JSON patch operation failed: a `test` did not hold or a path does not exist.
    #[error("{0}")]
    Failed(String),
}

/// The patch types, by request content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

/// The patch type a `Content-Type` names (parameters such as `charset` are ignored).
pub fn content_type_kind(content_type: &str) -> Option<PatchKind> {
    match content_type.split(';').next().unwrap_or_default().trim() {
        "application/json-patch+json" => Some(PatchKind::Json),
        "application/merge-patch+json" => Some(PatchKind::Merge),
        "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Some(PatchKind::Apply),
        _ => None,
    }
}

/// RFC 7386 merge patch; the patch must be an object.
pub fn merge_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    if !patch.is_object() {
        return Err(PatchError::Invalid(
            "a merge patch must be a JSON object".into(),
        ));
    }
    json_patch::merge(target, patch);
    Ok(())
}

/// RFC 6902 JSON patch; the patch must be an array of operations. Atomic: on failure the
/// target is unchanged.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::Invalid(format!("invalid JSON patch: {e}")))?;
    json_patch::patch(target, &ops).map_err(|e| PatchError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patches_set_and_delete_keys() {
        let mut d = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}});
        merge_patch(
            &mut d,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"replicas": 5}}),
        )
        .expect("patch");
        assert_eq!(
            d,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"replicas": 5}})
        );
        assert!(matches!(
            merge_patch(&mut d, &json!([1])),
            Err(PatchError::Invalid(_))
        ));
    }

    #[test]
    fn json_patches_apply_atomically() {
        let template = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}}});
        let mut d = template.clone();
        let undo = json!([{"op": "replace", "path": "/spec/template", "value": {"spec": {"containers": [{"name": "a", "image": "x:0"}]}}}]);
        json_patch(&mut d, &undo).expect("rollout undo's patch");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "x:0"
        );
        let mut d = template.clone();
        let failing = json!([{"op": "replace", "path": "/spec/x", "value": 1}, {"op": "test", "path": "/spec/nope", "value": 2}]);
        assert!(matches!(
            json_patch(&mut d, &failing),
            Err(PatchError::Failed(_))
        ));
        assert_eq!(d, template, "nothing applied");
        assert!(matches!(
            json_patch(&mut d, &json!({"op": "add"})),
            Err(PatchError::Invalid(_))
        ));
    }

    #[test]
    fn content_types_name_the_patch_kind() {
        assert_eq!(
            content_type_kind("application/strategic-merge-patch+json; charset=utf-8"),
            Some(PatchKind::Strategic)
        );
        assert_eq!(
            content_type_kind("application/apply-patch+yaml"),
            Some(PatchKind::Apply)
        );
        assert_eq!(content_type_kind("application/json"), None);
    }
}
