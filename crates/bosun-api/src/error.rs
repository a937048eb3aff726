//! [`ApiError`]: every failure the API returns, rendered as a Kubernetes `Status` with the
//! upstream reason, code and message wording.

use crate::resources::ResourceInfo;
use serde_json::{Value, json};

/// One field-level problem of an invalid object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl Cause {
    pub fn required(field: &str) -> Self {
        Self {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: field.into(),
        }
    }
    pub fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {}: {detail}", show(value)),
            field: field.into(),
        }
    }
    pub fn not_supported(field: &str, value: &Value, allowed: &[&str]) -> Self {
        let allowed: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
        Self {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                show(value),
                allowed.join(", ")
            ),
            field: field.into(),
        }
    }
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueForbidden".into(),
            message: format!("Forbidden: {detail}"),
            field: field.into(),
        }
    }
    pub fn immutable(field: &str) -> Self {
        Self {
            reason: "FieldValueInvalid".into(),
            message: "Invalid value: field is immutable".into(),
            field: field.into(),
        }
    }
    pub fn duplicate(field: &str, value: &Value) -> Self {
        Self {
            reason: "FieldValueDuplicate".into(),
            message: format!("Duplicate value: {}", show(value)),
            field: field.into(),
        }
    }
    fn describe(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// An API failure. `code()` is the HTTP status, `to_status()` the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Option<Value>,
}

fn details(res: &ResourceInfo, name: &str) -> Value {
    json!({"name": name, "group": res.group, "kind": res.plural})
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }
    fn with_details(mut self, d: Value) -> Self {
        self.details = Some(d);
        self
    }

    pub fn code(&self) -> u16 {
        self.code
    }
    pub fn reason(&self) -> &'static str {
        self.reason
    }
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code});
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }

    pub fn not_found(res: &ResourceInfo, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", res.group_resource()),
        )
        .with_details(details(res, name))
    }
    /// A path that names nothing.
    pub fn not_found_path(path: &str) -> Self {
        Self::new(404, "NotFound", format!("the server could not find the requested resource ({path})"))
            .with_details(json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}))
    }
    pub fn already_exists(res: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", res.group_resource()),
        )
        .with_details(details(res, name))
    }
    pub fn conflict(res: &ResourceInfo, name: &str) -> Self {
        Self::conflict_message(
            res,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }
    pub fn conflict_message(res: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: {why}",
                res.group_resource()
            ),
        )
        .with_details(details(res, name))
    }
    pub fn invalid(res: &ResourceInfo, name: &str, causes: Vec<Cause>) -> Self {
        let kind = if res.group.is_empty() {
            res.kind.to_string()
        } else {
            format!("{}.{}", res.kind, res.group)
        };
        let list: Vec<String> = causes.iter().map(Cause::describe).collect();
        let summary = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let causes_json: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        let mut d = details(res, name);
        d["kind"] = json!(res.kind);
        d["causes"] = json!(causes_json);
        Self::new(
            422,
            "Invalid",
            format!("{kind} {name:?} is invalid: {summary}"),
        )
        .with_details(d)
    }
    /// A patch that cannot be applied to the object.
    pub fn invalid_message(res: &ResourceInfo, message: &str) -> Self {
        Self::new(422, "Invalid", message.to_string())
            .with_details(json!({"group": res.group, "kind": res.plural}))
    }
    pub fn bad_request(message: &str) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn expired(message: &str) -> Self {
        Self::new(410, "Expired", message)
    }
    pub fn gone(message: &str) -> Self {
        Self::new(410, "Gone", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }
    pub fn forbidden(message: &str) -> Self {
        Self::new(403, "Forbidden", message)
    }
    pub fn method_not_allowed(message: &str) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }
    pub fn not_acceptable(message: &str) -> Self {
        Self::new(406, "NotAcceptable", message)
    }
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
            ),
        )
    }
    pub fn too_large(message: &str) -> Self {
        Self::new(413, "RequestEntityTooLarge", message)
    }
    pub fn too_many_requests(message: &str) -> Self {
        Self::new(429, "TooManyRequests", message)
    }
    pub fn internal(message: &str) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
    }
    pub fn unavailable(message: &str) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }
    pub fn timeout(message: &str) -> Self {
        Self::new(504, "Timeout", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> &'static ResourceInfo {
        crate::resources::find("apps", "v1", "deployments").expect("deployments")
    }

    #[test]
    fn not_found_reads_like_upstream() {
        let s = ApiError::not_found(deployments(), "x").to_status();
        assert_eq!(
            s,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"x\" not found","reason":"NotFound","details":{"name":"x","group":"apps","kind":"deployments"},"code":404})
        );
    }

    #[test]
    fn invalid_lists_every_cause() {
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
        assert_eq!(e.code(), 422);
        assert_eq!(
            e.message(),
            "Deployment.apps \"x\" is invalid: [spec.selector: Required value, spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
        );
        assert_eq!(
            e.to_status()["details"]["causes"][1]["field"],
            "spec.replicas"
        );
        let one = ApiError::invalid(
            crate::resources::find("", "v1", "pods").expect("pods"),
            "p",
            vec![Cause::required("spec")],
        );
        assert_eq!(one.message(), "Pod \"p\" is invalid: spec: Required value");
    }

    #[test]
    fn conflict_and_codes() {
        assert!(
            ApiError::conflict(deployments(), "x")
                .message()
                .contains("the object has been modified")
        );
        assert_eq!(ApiError::unauthorized().code(), 401);
        assert_eq!(ApiError::expired("old").reason(), "Expired");
        assert_eq!(ApiError::too_large("big").code(), 413);
    }
}
