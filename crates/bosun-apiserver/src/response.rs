//! Turning results into HTTP responses: JSON bodies, `Status` errors, and the Table form that
//! `kubectl get` asks for.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bosun_api::{ApiError, IncludeObject, ResourceInfo};
use serde_json::Value;

/// An API error as an HTTP response: the `Status` object with its code.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.0.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json(code, &self.0.to_status());
        if let Some(seconds) = self.0.retry_after_seconds() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// A JSON response.
pub fn json(code: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Whether the client asked for a `meta.k8s.io` Table (kubectl get).
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| part.contains("as=Table") && part.contains("g=meta.k8s.io"))
}

pub fn include_object(query: &std::collections::HashMap<String, String>) -> IncludeObject {
    match query.get("includeObject").map(String::as_str) {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

/// One object, as JSON or (when asked) as a one-row Table.
pub fn object(
    code: StatusCode,
    res: &ResourceInfo,
    obj: &Value,
    headers: &HeaderMap,
    query: &std::collections::HashMap<String, String>,
) -> Response {
    if wants_table(headers) {
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        let table = bosun_api::table(
            res,
            std::slice::from_ref(obj),
            std::time::SystemTime::now(),
            serde_json::json!({"resourceVersion": rv}),
            include_object(query),
        );
        return json(code, &table);
    }
    json(code, obj)
}

/// Add one `Warning: 299 - "<text>"` header per warning (RFC 7234), which kubectl prints as
/// `Warning: <text>`.
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = header::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}
