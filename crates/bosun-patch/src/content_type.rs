//! Which patch format a PATCH request's `Content-Type` names.

/// The patch formats of the Kubernetes API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchKind {
    /// RFC 6902 JSON patch, `application/json-patch+json`: [`json_patch`](crate::json_patch).
    Json,
    /// RFC 7386 merge patch, `application/merge-patch+json`: [`merge_patch`](crate::merge_patch).
    Merge,
    /// Strategic merge patch, `application/strategic-merge-patch+json`:
    /// [`strategic_merge_patch`](crate::strategic_merge_patch).
    Strategic,
    /// Server-side apply, `application/apply-patch+yaml`.
    Apply,
}

impl PatchKind {
    /// The media type that names this kind.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchKind::Json => "application/json-patch+json",
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Strategic => "application/strategic-merge-patch+json",
            PatchKind::Apply => "application/apply-patch+yaml",
        }
    }
}

/// The patch format a `Content-Type` header names, if any. Parameters (`; charset=utf-8`) and
/// case are ignored.
///
/// ```
/// use bosun_patch::{PatchKind, content_type_kind};
/// assert_eq!(content_type_kind("application/merge-patch+json; charset=utf-8"), Some(PatchKind::Merge));
/// assert_eq!(content_type_kind("application/json"), None);
/// ```
pub fn content_type_kind(content_type: &str) -> Option<PatchKind> {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    [
        PatchKind::Json,
        PatchKind::Merge,
        PatchKind::Strategic,
        PatchKind::Apply,
    ]
    .into_iter()
    .find(|kind| kind.content_type().eq_ignore_ascii_case(media_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_patch_media_type_names_its_kind() {
        for (content_type, kind) in [
            ("application/json-patch+json", PatchKind::Json),
            ("application/merge-patch+json", PatchKind::Merge),
            (
                "application/strategic-merge-patch+json",
                PatchKind::Strategic,
            ),
            ("application/apply-patch+yaml", PatchKind::Apply),
        ] {
            assert_eq!(content_type_kind(content_type), Some(kind));
            assert_eq!(kind.content_type(), content_type);
        }
    }

    #[test]
    fn parameters_whitespace_and_case_are_ignored() {
        assert_eq!(
            content_type_kind("application/strategic-merge-patch+json; charset=utf-8"),
            Some(PatchKind::Strategic)
        );
        assert_eq!(
            content_type_kind(" Application/JSON-Patch+JSON ;charset=UTF-8"),
            Some(PatchKind::Json)
        );
    }

    #[test]
    fn other_media_types_are_not_patches() {
        for other in [
            "",
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
            "application/apply-patch+json",
            "text/plain",
        ] {
            assert_eq!(content_type_kind(other), None, "{other}");
        }
    }
}
