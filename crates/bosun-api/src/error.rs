//! [`ApiError`]: every failure the API returns, rendered as a Kubernetes `Status` with the
//! upstream reason, code and message wording (k8s.io/apimachinery/pkg/api/errors and
//! k8s.io/apimachinery/pkg/util/validation/field).
//!
//! Each variant is one upstream `StatusReason`; the constructors below build them with the
//! messages upstream's `New*` functions write, and [`ApiError::to_status`] renders the body
//! with upstream's `omitempty` rules (no `details` where upstream sends none, no empty
//! `group` for the core group).

use crate::resources::ResourceInfo;
use serde_json::{Map, Value, json};

/// `Result` with [`ApiError`] as the default error.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// One field-level problem of an invalid object: a `StatusCause` of an `Invalid` status.
///
/// `message` is what upstream's `field.Error.ErrorBody()` prints; `field` is the path
/// (`spec.replicas`, `metadata.labels[app]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The cause type, e.g. `FieldValueInvalid`.
    pub reason: String,
    /// The message without the field, e.g. `Invalid value: -1: must be greater than or equal to 0`.
    pub message: String,
    /// The field path, e.g. `spec.replicas`.
    pub field: String,
}

/// Go's `strconv.Quote` (and `%q`) for the strings that appear in messages.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A bad value as upstream's `field.Error` prints it: strings quoted, numbers and booleans
/// bare, anything else as JSON.
pub(crate) fn show_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        other => other.to_string(),
    }
}

impl Cause {
    fn new(reason: &str, message: String, field: &str) -> Self {
        Self {
            reason: reason.to_string(),
            message,
            field: field.to_string(),
        }
    }

    /// `FieldValueRequired`: "Required value".
    pub fn required(field: &str) -> Self {
        Self::new("FieldValueRequired", "Required value".into(), field)
    }

    /// `FieldValueInvalid`: "Invalid value: <value>: <detail>".
    pub fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        let mut message = format!("Invalid value: {}", show_value(value));
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        Self::new("FieldValueInvalid", message, field)
    }

    /// `FieldValueNotSupported`: `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: &str, value: &Value, allowed: &[&str]) -> Self {
        let mut message = format!("Unsupported value: {}", show_value(value));
        if !allowed.is_empty() {
            let quoted: Vec<String> = allowed.iter().map(|a| go_quote(a)).collect();
            message.push_str(": supported values: ");
            message.push_str(&quoted.join(", "));
        }
        Self::new("FieldValueNotSupported", message, field)
    }

    /// `FieldValueForbidden`: "Forbidden: <detail>".
    pub fn forbidden(field: &str, detail: &str) -> Self {
        let message = if detail.is_empty() {
            "Forbidden".to_string()
        } else {
            format!("Forbidden: {detail}")
        };
        Self::new("FieldValueForbidden", message, field)
    }

    /// An immutable field changed: `FieldValueInvalid`, "Invalid value: field is immutable"
    /// (upstream's wording when the value is omitted).
    pub fn immutable(field: &str) -> Self {
        Self::new(
            "FieldValueInvalid",
            "Invalid value: field is immutable".into(),
            field,
        )
    }

    /// `FieldValueDuplicate`: "Duplicate value: <value>".
    pub fn duplicate(field: &str, value: &Value) -> Self {
        Self::new(
            "FieldValueDuplicate",
            format!("Duplicate value: {}", show_value(value)),
            field,
        )
    }

    /// `field: message`, as upstream's `field.Error.Error()`.
    fn describe(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "reason", &self.reason);
        put(&mut m, "message", &self.message);
        put(&mut m, "field", &self.field);
        Value::Object(m)
    }
}

/// Insert a string unless it is empty (Go's `omitempty`).
fn put(m: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        m.insert(key.to_string(), json!(value));
    }
}

/// The `details` of a `Status`: which object, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusDetails {
    /// The object's name.
    pub name: String,
    /// The API group ("" for the core group, and then left out of the JSON).
    pub group: String,
    /// The resource (`deployments`) for most reasons, the kind (`Deployment`) for `Invalid`.
    pub kind: String,
    /// The field-level causes.
    pub causes: Vec<Cause>,
    /// How long a client should wait before retrying (0: left out).
    pub retry_after_seconds: u32,
}

impl StatusDetails {
    fn of(res: &ResourceInfo, name: &str) -> Self {
        Self {
            name: name.to_string(),
            group: res.group.to_string(),
            kind: res.plural.to_string(),
            ..Self::default()
        }
    }

    /// The JSON with upstream's `omitempty` rules.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        put(&mut m, "name", &self.name);
        put(&mut m, "group", &self.group);
        put(&mut m, "kind", &self.kind);
        if !self.causes.is_empty() {
            m.insert(
                "causes".into(),
                Value::Array(self.causes.iter().map(Cause::to_json).collect()),
            );
        }
        if self.retry_after_seconds != 0 {
            m.insert("retryAfterSeconds".into(), json!(self.retry_after_seconds));
        }
        Value::Object(m)
    }
}

/// An API failure: one variant per upstream `StatusReason`. [`ApiError::code`] is the HTTP
/// status, [`ApiError::to_status`] the body, and `Display` the message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is malformed.
    #[error("{message}")]
    BadRequest { message: String },
    /// 401: no or bad credentials.
    #[error("{message}")]
    Unauthorized { message: String },
    /// 403: authenticated but not allowed.
    #[error("{message}")]
    Forbidden { message: String },
    /// 404: the object or path does not exist.
    #[error("{message}")]
    NotFound {
        message: String,
        details: Option<Box<StatusDetails>>,
    },
    /// 405: the verb is not served on this path.
    #[error("{message}")]
    MethodNotAllowed { message: String },
    /// 406: no acceptable response media type.
    #[error("{message}")]
    NotAcceptable { message: String },
    /// 409: create of an object that exists.
    #[error("{message}")]
    AlreadyExists {
        message: String,
        details: Box<StatusDetails>,
    },
    /// 409: the object changed since the client read it.
    #[error("{message}")]
    Conflict {
        message: String,
        details: Box<StatusDetails>,
    },
    /// 410: the requested resourceVersion was compacted away.
    #[error("{message}")]
    Expired { message: String },
    /// 410: the resource is gone.
    #[error("{message}")]
    Gone { message: String },
    /// 413: the body or object is too large.
    #[error("{message}")]
    RequestEntityTooLarge { message: String },
    /// 415: the request body's media type is not accepted.
    #[error("{message}")]
    UnsupportedMediaType {
        message: String,
        /// What the client sent (or the caller's note about it); not part of the message.
        content_type: String,
    },
    /// 422: the object fails validation.
    #[error("{message}")]
    Invalid {
        message: String,
        details: Box<StatusDetails>,
    },
    /// 429: throttled; `details.retryAfterSeconds` (and the `Retry-After` header) say when to
    /// try again.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        details: Option<Box<StatusDetails>>,
    },
    /// 500: a bug or a broken invariant in the server.
    #[error("{message}")]
    InternalError {
        message: String,
        details: Option<Box<StatusDetails>>,
    },
    /// 503: a dependency (the store) cannot serve right now.
    #[error("{message}")]
    ServiceUnavailable { message: String },
    /// 504: the operation did not finish in time.
    #[error("{message}")]
    Timeout { message: String },
}

/// The media types bosun accepts for request bodies, in upstream's order.
pub const ACCEPTED_MEDIA_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// `Deployment.apps` / `Pod`: upstream's `GroupKind.String()`.
fn group_kind(res: &ResourceInfo) -> String {
    if res.group.is_empty() {
        res.kind.to_string()
    } else {
        format!("{}.{}", res.kind, res.group)
    }
}

/// Upstream's `utilerrors.Aggregate` text: one message bare, several in brackets, duplicates
/// dropped.
fn aggregate(messages: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for m in messages {
        if !seen.contains(&m.as_str()) {
            seen.push(m);
        }
    }
    match seen.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

impl ApiError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized { .. } => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::NotAcceptable { .. } => 406,
            Self::AlreadyExists { .. } | Self::Conflict { .. } => 409,
            Self::Expired { .. } | Self::Gone { .. } => 410,
            Self::RequestEntityTooLarge { .. } => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::Invalid { .. } => 422,
            Self::TooManyRequests { .. } => 429,
            Self::InternalError { .. } => 500,
            Self::ServiceUnavailable { .. } => 503,
            Self::Timeout { .. } => 504,
        }
    }

    /// The upstream `StatusReason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "BadRequest",
            Self::Unauthorized { .. } => "Unauthorized",
            Self::Forbidden { .. } => "Forbidden",
            Self::NotFound { .. } => "NotFound",
            Self::MethodNotAllowed { .. } => "MethodNotAllowed",
            Self::NotAcceptable { .. } => "NotAcceptable",
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::Conflict { .. } => "Conflict",
            Self::Expired { .. } => "Expired",
            Self::Gone { .. } => "Gone",
            Self::RequestEntityTooLarge { .. } => "RequestEntityTooLarge",
            Self::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            Self::Invalid { .. } => "Invalid",
            Self::TooManyRequests { .. } => "TooManyRequests",
            Self::InternalError { .. } => "InternalError",
            Self::ServiceUnavailable { .. } => "ServiceUnavailable",
            Self::Timeout { .. } => "Timeout",
        }
    }

    /// The human-readable message (the `Status.message`).
    pub fn message(&self) -> &str {
        match self {
            Self::BadRequest { message }
            | Self::Unauthorized { message }
            | Self::Forbidden { message }
            | Self::NotFound { message, .. }
            | Self::MethodNotAllowed { message }
            | Self::NotAcceptable { message }
            | Self::AlreadyExists { message, .. }
            | Self::Conflict { message, .. }
            | Self::Expired { message }
            | Self::Gone { message }
            | Self::RequestEntityTooLarge { message }
            | Self::UnsupportedMediaType { message, .. }
            | Self::Invalid { message, .. }
            | Self::TooManyRequests { message, .. }
            | Self::InternalError { message, .. }
            | Self::ServiceUnavailable { message }
            | Self::Timeout { message } => message,
        }
    }

    /// The `details`, where upstream sends them.
    pub fn details(&self) -> Option<&StatusDetails> {
        match self {
            Self::NotFound { details, .. }
            | Self::InternalError { details, .. }
            | Self::TooManyRequests { details, .. } => details.as_deref(),
            Self::AlreadyExists { details, .. }
            | Self::Conflict { details, .. }
            | Self::Invalid { details, .. } => Some(details),
            _ => None,
        }
    }

    /// The `Status` object:
    /// `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":..,"reason":..,"details":{..},"code":N}`
    /// (`details` only where upstream sends it).
    pub fn to_status(&self) -> Value {
        let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message(), "reason": self.reason(), "code": self.code()});
        if let Some(d) = self.details() {
            s["details"] = d.to_json();
        }
        s
    }

    /// 404: `deployments.apps "x" not found`, details `{name, group, kind: <plural>}`.
    pub fn not_found(res: &ResourceInfo, name: &str) -> Self {
        Self::NotFound {
            message: format!("{} {} not found", res.group_resource(), go_quote(name)),
            details: Some(Box::new(StatusDetails::of(res, name))),
        }
    }

    /// 404 for a path that names nothing: "the server could not find the requested resource
    /// (<what>)", as clients word a 404 without a Status.
    pub fn not_found_path(what: &str) -> Self {
        Self::NotFound {
            message: format!("the server could not find the requested resource ({what})"),
            details: Some(Box::new(StatusDetails {
                causes: vec![Cause {
                    reason: "UnexpectedServerResponse".into(),
                    message: "404 page not found".into(),
                    field: String::new(),
                }],
                ..StatusDetails::default()
            })),
        }
    }

    /// 409 AlreadyExists: `deployments.apps "x" already exists`.
    pub fn already_exists(res: &ResourceInfo, name: &str) -> Self {
        Self::AlreadyExists {
            message: format!("{} {} already exists", res.group_resource(), go_quote(name)),
            details: Box::new(StatusDetails::of(res, name)),
        }
    }

    /// 409 Conflict: `Operation cannot be fulfilled on deployments.apps "x": the object has
    /// been modified; please apply your changes to the latest version and try again`.
    pub fn conflict(res: &ResourceInfo, name: &str) -> Self {
        Self::conflict_message(
            res,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict with another reason after the colon.
    pub fn conflict_message(res: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::Conflict {
            message: format!(
                "Operation cannot be fulfilled on {} {}: {why}",
                res.group_resource(),
                go_quote(name)
            ),
            details: Box::new(StatusDetails::of(res, name)),
        }
    }

    /// 409 Conflict of a server-side apply: `Apply failed with 1 conflict: conflict with
    /// "kubectl" using apps/v1: .spec.replicas`, one `FieldManagerConflict` cause per field
    /// (`(manager as printed, field path)`), as upstream's `NewApplyConflict`.
    pub fn apply_conflict(message: &str, conflicts: &[(String, String)]) -> Self {
        Self::Conflict {
            message: message.to_string(),
            details: Box::new(StatusDetails {
                causes: conflicts
                    .iter()
                    .map(|(manager, field)| {
                        Cause::new(
                            "FieldManagerConflict",
                            format!("conflict with {manager}"),
                            field,
                        )
                    })
                    .collect(),
                ..StatusDetails::default()
            }),
        }
    }

    /// 422 Invalid: `Deployment.apps "x" is invalid: [spec.replicas: Invalid value: -1: must
    /// be greater than or equal to 0, ...]` (one cause without brackets), details
    /// `{name, group, kind: <Kind>, causes}`.
    pub fn invalid(res: &ResourceInfo, name: &str, causes: Vec<Cause>) -> Self {
        let described: Vec<String> = causes.iter().map(Cause::describe).collect();
        let summary = aggregate(&described);
        let message = if summary.is_empty() {
            format!("{} {} is invalid", group_kind(res), go_quote(name))
        } else {
            format!(
                "{} {} is invalid: {summary}",
                group_kind(res),
                go_quote(name)
            )
        };
        Self::Invalid {
            message,
            details: Box::new(StatusDetails {
                name: name.to_string(),
                group: res.group.to_string(),
                kind: res.kind.to_string(),
                causes,
                retry_after_seconds: 0,
            }),
        }
    }

    /// 422 Invalid with a free-form message (a patch that cannot be applied).
    pub fn invalid_message(res: &ResourceInfo, message: &str) -> Self {
        Self::Invalid {
            message: message.to_string(),
            details: Box::new(StatusDetails {
                group: res.group.to_string(),
                kind: res.plural.to_string(),
                ..StatusDetails::default()
            }),
        }
    }

    /// 400 BadRequest with the message as given.
    pub fn bad_request(message: &str) -> Self {
        Self::BadRequest {
            message: message.to_string(),
        }
    }

    /// 410 Expired (a compacted resourceVersion), e.g. "too old resource version: 5 (9)".
    pub fn expired(message: &str) -> Self {
        Self::Expired {
            message: message.to_string(),
        }
    }

    /// 410 Gone.
    pub fn gone(message: &str) -> Self {
        Self::Gone {
            message: message.to_string(),
        }
    }

    /// 401 "Unauthorized", as the authentication filter answers.
    pub fn unauthorized() -> Self {
        Self::Unauthorized {
            message: "Unauthorized".into(),
        }
    }

    /// 403 Forbidden with the message as given.
    pub fn forbidden(message: &str) -> Self {
        Self::Forbidden {
            message: message.to_string(),
        }
    }

    /// 405 MethodNotAllowed with the message as given.
    pub fn method_not_allowed(message: &str) -> Self {
        Self::MethodNotAllowed {
            message: message.to_string(),
        }
    }

    /// 406 NotAcceptable with the message as given.
    pub fn not_acceptable(message: &str) -> Self {
        Self::NotAcceptable {
            message: message.to_string(),
        }
    }

    /// 415: "the body of the request was in an unknown format - accepted media types include:
    /// application/json, application/yaml, ..." (upstream's wording, which does not repeat the
    /// refused type; it is kept in the variant).
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::UnsupportedMediaType {
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                ACCEPTED_MEDIA_TYPES.join(", ")
            ),
            content_type: content_type.to_string(),
        }
    }

    /// 413: "Request entity too large: <message>".
    pub fn too_large(message: &str) -> Self {
        Self::RequestEntityTooLarge {
            message: format!("Request entity too large: {message}"),
        }
    }

    /// 429: "Too many requests: <message>".
    pub fn too_many_requests(message: &str) -> Self {
        Self::TooManyRequests {
            message: format!("Too many requests: {message}"),
            details: None,
        }
    }

    /// 429 with `details.retryAfterSeconds`, which the response also sends as `Retry-After`.
    pub fn too_many_requests_retry_after(message: &str, seconds: u32) -> Self {
        Self::TooManyRequests {
            message: format!("Too many requests: {message}"),
            details: Some(Box::new(StatusDetails {
                retry_after_seconds: seconds,
                ..StatusDetails::default()
            })),
        }
    }

    /// How long the client should wait before retrying, when the error says so.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        self.details()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0)
    }

    /// 500: "Internal error occurred: <message>", details `{causes: [{message}]}`.
    pub fn internal(message: &str) -> Self {
        Self::InternalError {
            message: format!("Internal error occurred: {message}"),
            details: Some(Box::new(StatusDetails {
                causes: vec![Cause {
                    reason: String::new(),
                    message: message.to_string(),
                    field: String::new(),
                }],
                ..StatusDetails::default()
            })),
        }
    }

    /// 503 ServiceUnavailable with the message as given.
    pub fn unavailable(message: &str) -> Self {
        Self::ServiceUnavailable {
            message: message.to_string(),
        }
    }

    /// 504: "Timeout: <message>".
    pub fn timeout(message: &str) -> Self {
        Self::Timeout {
            message: format!("Timeout: {message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;

    fn deployments() -> &'static ResourceInfo {
        find("apps", "v1", "deployments").expect("deployments")
    }

    fn pods() -> &'static ResourceInfo {
        find("", "v1", "pods").expect("pods")
    }

    #[test]
    fn not_found_reads_like_upstream() {
        assert_eq!(
            ApiError::not_found(deployments(), "x").to_status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"x\" not found","reason":"NotFound","details":{"name":"x","group":"apps","kind":"deployments"},"code":404})
        );
    }

    #[test]
    fn core_group_is_left_out_of_details() {
        assert_eq!(
            ApiError::not_found(pods(), "p").to_status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"p\" not found","reason":"NotFound","details":{"name":"p","kind":"pods"},"code":404})
        );
    }

    #[test]
    fn already_exists_and_conflict_read_like_upstream() {
        let e = ApiError::already_exists(deployments(), "x");
        assert_eq!(
            (e.code(), e.reason(), e.message()),
            (
                409,
                "AlreadyExists",
                "deployments.apps \"x\" already exists"
            )
        );
        assert_eq!(
            e.to_status()["details"],
            json!({"name":"x","group":"apps","kind":"deployments"})
        );
        let c = ApiError::conflict(deployments(), "x");
        assert_eq!(
            (c.code(), c.reason(), c.message()),
            (
                409,
                "Conflict",
                "Operation cannot be fulfilled on deployments.apps \"x\": the object has been modified; please apply your changes to the latest version and try again"
            )
        );
        let m = ApiError::conflict_message(pods(), "p", "pod p is already assigned");
        assert_eq!(
            m.message(),
            "Operation cannot be fulfilled on pods \"p\": pod p is already assigned"
        );
    }

    #[test]
    fn invalid_lists_every_cause_in_brackets() {
        let e = ApiError::invalid(
            deployments(),
            "x",
            vec![
                Cause::required("spec.selector"),
                Cause::invalid(
                    "spec.replicas",
                    &json!(-1),
                    "must be greater than or equal to 0",
                ),
            ],
        );
        assert_eq!((e.code(), e.reason()), (422, "Invalid"));
        assert_eq!(
            e.message(),
            "Deployment.apps \"x\" is invalid: [spec.selector: Required value, spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
        );
        assert_eq!(
            e.to_status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message": e.message(), "reason":"Invalid",
                "details":{"name":"x","group":"apps","kind":"Deployment","causes":[
                    {"reason":"FieldValueRequired","message":"Required value","field":"spec.selector"},
                    {"reason":"FieldValueInvalid","message":"Invalid value: -1: must be greater than or equal to 0","field":"spec.replicas"}]},
                "code":422})
        );
    }

    #[test]
    fn invalid_with_one_cause_has_no_brackets() {
        let one = ApiError::invalid(pods(), "p", vec![Cause::required("spec")]);
        assert_eq!(one.message(), "Pod \"p\" is invalid: spec: Required value");
        assert_eq!(one.to_status()["details"]["kind"], "Pod");
        assert!(one.to_status()["details"].get("group").is_none());
    }

    #[test]
    fn invalid_drops_duplicate_messages_like_aggregate() {
        let twice = ApiError::invalid(
            pods(),
            "p",
            vec![Cause::required("spec"), Cause::required("spec")],
        );
        assert_eq!(
            twice.message(),
            "Pod \"p\" is invalid: spec: Required value"
        );
        assert_eq!(
            twice.to_status()["details"]["causes"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let none = ApiError::invalid(pods(), "p", vec![]);
        assert_eq!(none.message(), "Pod \"p\" is invalid");
        assert!(none.to_status()["details"].get("causes").is_none());
    }

    #[test]
    fn invalid_message_keeps_the_text() {
        let e = ApiError::invalid_message(deployments(), "cannot apply patch");
        assert_eq!((e.code(), e.message()), (422, "cannot apply patch"));
        assert_eq!(
            e.to_status()["details"],
            json!({"group":"apps","kind":"deployments"})
        );
    }

    #[test]
    fn throttling_can_say_when_to_retry() {
        let e = ApiError::too_many_requests_retry_after("at most 3 watches", 2);
        assert_eq!(e.retry_after_seconds(), Some(2));
        assert_eq!(
            e.to_status(),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Too many requests: at most 3 watches", "reason": "TooManyRequests",
                "details": {"retryAfterSeconds": 2}, "code": 429})
        );
        assert_eq!(ApiError::too_many_requests("x").retry_after_seconds(), None);
    }

    #[test]
    fn every_constructor_has_its_code_reason_and_wording() {
        let cases: Vec<(ApiError, u16, &str, &str)> = vec![
            (ApiError::bad_request("bad"), 400, "BadRequest", "bad"),
            (
                ApiError::unauthorized(),
                401,
                "Unauthorized",
                "Unauthorized",
            ),
            (ApiError::forbidden("no"), 403, "Forbidden", "no"),
            (
                ApiError::method_not_allowed("verb"),
                405,
                "MethodNotAllowed",
                "verb",
            ),
            (
                ApiError::not_acceptable("only json"),
                406,
                "NotAcceptable",
                "only json",
            ),
            (
                ApiError::expired("too old resource version: 1 (5)"),
                410,
                "Expired",
                "too old resource version: 1 (5)",
            ),
            (ApiError::gone("gone"), 410, "Gone", "gone"),
            (
                ApiError::too_large("limit is 3 bytes"),
                413,
                "RequestEntityTooLarge",
                "Request entity too large: limit is 3 bytes",
            ),
            (
                ApiError::too_many_requests("slow down"),
                429,
                "TooManyRequests",
                "Too many requests: slow down",
            ),
            (
                ApiError::internal("boom"),
                500,
                "InternalError",
                "Internal error occurred: boom",
            ),
            (
                ApiError::unavailable("storage down"),
                503,
                "ServiceUnavailable",
                "storage down",
            ),
            (
                ApiError::timeout("storage: slow"),
                504,
                "Timeout",
                "Timeout: storage: slow",
            ),
        ];
        for (e, code, reason, message) in cases {
            assert_eq!((e.code(), e.reason(), e.message()), (code, reason, message));
            assert_eq!(e.to_string(), message);
            let s = e.to_status();
            assert_eq!(
                (&s["code"], &s["reason"], &s["message"], &s["status"]),
                (
                    &json!(code),
                    &json!(reason),
                    &json!(message),
                    &json!("Failure")
                )
            );
        }
    }

    #[test]
    fn plain_errors_have_no_details() {
        for e in [
            ApiError::bad_request("x"),
            ApiError::unauthorized(),
            ApiError::expired("x"),
            ApiError::timeout("x"),
            ApiError::unsupported_media_type("text/plain"),
        ] {
            assert!(e.to_status().get("details").is_none(), "{e:?}");
        }
        assert_eq!(
            ApiError::unauthorized().to_status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})
        );
    }

    #[test]
    fn internal_errors_carry_the_cause() {
        assert_eq!(
            ApiError::internal("boom").to_status()["details"],
            json!({"causes": [{"message": "boom"}]})
        );
    }

    #[test]
    fn unsupported_media_type_lists_the_accepted_types() {
        let e = ApiError::unsupported_media_type("text/plain");
        assert_eq!((e.code(), e.reason()), (415, "UnsupportedMediaType"));
        assert!(e.message().starts_with(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, "
        ));
        assert!(e.message().contains("application/merge-patch+json"));
        assert!(e.message().contains("application/apply-patch+yaml"));
        assert!(
            matches!(e, ApiError::UnsupportedMediaType { ref content_type, .. } if content_type == "text/plain")
        );
    }

    #[test]
    fn not_found_path_reads_like_a_client_side_404() {
        let e = ApiError::not_found_path("get widgets");
        assert_eq!(
            e.message(),
            "the server could not find the requested resource (get widgets)"
        );
        assert_eq!(
            e.to_status()["details"],
            json!({"causes":[{"reason":"UnexpectedServerResponse","message":"404 page not found"}]})
        );
    }

    #[test]
    fn causes_word_values_like_field_errors() {
        assert_eq!(
            Cause::invalid("metadata.name", &json!("Web"), "must be lowercase").message,
            "Invalid value: \"Web\": must be lowercase"
        );
        assert_eq!(
            Cause::invalid("spec.paused", &json!(true), "").message,
            "Invalid value: true"
        );
        assert_eq!(
            Cause::invalid("spec.selector", &json!({"matchLabels": {}}), "empty").message,
            "Invalid value: {\"matchLabels\":{}}: empty"
        );
        assert_eq!(
            Cause::invalid("x", &Value::Null, "null").message,
            "Invalid value: null: null"
        );
        let ns = Cause::not_supported(
            "spec.restartPolicy",
            &json!("Sometimes"),
            &["Always", "OnFailure", "Never"],
        );
        assert_eq!(
            (ns.reason.as_str(), ns.message.as_str()),
            (
                "FieldValueNotSupported",
                "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
            )
        );
        assert_eq!(
            Cause::not_supported("x", &json!("y"), &[]).message,
            "Unsupported value: \"y\""
        );
        let f = Cause::forbidden("spec.nodeName", "may not be set");
        assert_eq!(
            (f.reason.as_str(), f.message.as_str()),
            ("FieldValueForbidden", "Forbidden: may not be set")
        );
        assert_eq!(Cause::forbidden("x", "").message, "Forbidden");
        let i = Cause::immutable("spec.selector");
        assert_eq!(
            (i.reason.as_str(), i.message.as_str(), i.field.as_str()),
            (
                "FieldValueInvalid",
                "Invalid value: field is immutable",
                "spec.selector"
            )
        );
        let d = Cause::duplicate("spec.containers[1].name", &json!("app"));
        assert_eq!(
            (d.reason.as_str(), d.message.as_str()),
            ("FieldValueDuplicate", "Duplicate value: \"app\"")
        );
        let r = Cause::required("spec.containers");
        assert_eq!(
            (r.reason.as_str(), r.message.as_str()),
            ("FieldValueRequired", "Required value")
        );
    }

    #[test]
    fn names_are_quoted_like_go() {
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("tab\there\n"), "\"tab\\there\\n\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
        assert_eq!(go_quote("\u{85}"), "\"\\u0085\"");
        assert_eq!(go_quote("héllo ✓"), "\"héllo ✓\"");
        assert_eq!(
            ApiError::not_found(pods(), "we\"ird").message(),
            "pods \"we\\\"ird\" not found"
        );
    }

    #[test]
    fn errors_stay_small_enough_to_return_by_value() {
        assert!(std::mem::size_of::<ApiError>() <= 64);
    }

    #[test]
    fn status_deserializes_as_the_upstream_type() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
        let e = ApiError::invalid(deployments(), "x", vec![Cause::required("spec.selector")]);
        let s: Status = serde_json::from_value(e.to_status()).expect("a Status");
        assert_eq!(s.code, Some(422));
        assert_eq!(s.reason.as_deref(), Some("Invalid"));
        assert_eq!(s.status.as_deref(), Some("Failure"));
        let details = s.details.expect("details");
        assert_eq!(details.kind.as_deref(), Some("Deployment"));
        assert_eq!(
            details
                .causes
                .and_then(|c| c.into_iter().next())
                .and_then(|c| c.field),
            Some("spec.selector".to_string())
        );
    }
}
