//! The three patch formats the Kubernetes API server accepts, as pure functions over
//! [`serde_json::Value`]: no I/O, no knowledge of the store.
//!
//! Start reading at [`strategic_merge_patch`] (`strategic/mod.rs`), the format kubectl sends
//! by default: maps merge, some lists merge element-wise by a key, and `$`-directives steer the
//! merge. Its module doc has a table of the directives and says where bosun departs from
//! upstream. Then:
//! - [`strategic::schema`]: [`list_strategy`], the `patchStrategy`/`patchMergeKey` tags of the
//!   built-in kinds, by JSON path;
//! - [`strategic::order`]: which live element a patch element names, and the order of a
//!   merged list (`$setElementOrder`);
//! - [`json`]: [`json_patch()`] (RFC 6902) and [`merge_patch`] (RFC 7386), from the `json-patch`
//!   crate;
//! - [`content_type`]: [`content_type_kind`], the patch format a request's `Content-Type` names.
//!
//! Every function either applies the whole patch or returns a [`PatchError`] and leaves the
//! target as it was.

pub mod apply;
pub mod content_type;
pub mod field_set;
pub mod json;
pub mod strategic;

pub use content_type::{PatchKind, content_type_kind};
pub use json::{json_patch, merge_patch};
pub use strategic::schema::{ListStrategy, list_strategy};
pub use strategic::strategic_merge_patch;

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not valid for its type (the message says where). The API server
    /// answers 400 Bad Request.
    #[error("{0}")]
    Invalid(String),
    /// A JSON patch `test` operation failed or a path does not exist. The API server answers
    /// 422 Invalid.
    #[error("{0}")]
    Failed(String),
}

/// The result of applying a patch.
pub type Result<T, E = PatchError> = std::result::Result<T, E>;

/// How an error message names a JSON value's type.
pub(crate) fn type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
