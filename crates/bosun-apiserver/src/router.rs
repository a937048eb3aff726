//! The HTTP routes: health and version (public), discovery, OpenAPI, metrics, and every
//! resource path under `/api` and `/apis` (authenticated).

use crate::handlers::{self, Call};
use crate::path::{self, Target};
use crate::response::{Failure, json};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bosun_api::{ApiError, resources};
use bosun_pki::User;
use std::collections::HashMap;
use std::time::Instant;

/// A request body may not exceed this (Kubernetes' limit is 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The user a connection's client certificate names, set by the TLS accept loop.
#[derive(Clone, Debug, Default)]
pub struct PeerUser(pub Option<User>);

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route("/healthz", get(ok))
        .route("/metrics", get(metrics))
        .route("/openapi/v3", get(crate::openapi::index))
        .route("/openapi/v3/{*path}", get(crate::openapi::group_version))
        .route("/openapi/v2", get(crate::openapi::v2))
        .route(
            "/api/v1/namespaces/{namespace}/pods/{name}/exec",
            any(crate::node_proxy::exec),
        )
        .route("/api", any(api))
        .route("/api/{*rest}", any(api))
        .route("/apis", any(api))
        .route("/apis/{*rest}", any(api))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

async fn ok() -> &'static str {
    "ok"
}

async fn not_found(uri: Uri) -> Response {
    Failure(ApiError::not_found_path(uri.path())).into_response()
}

/// What `GET /version` answers.
pub fn version_info() -> serde_json::Value {
    serde_json::json!({
        "major": "1",
        "minor": "33",
        "gitVersion": format!("v1.33.0-bosun.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", other => other }),
    })
}

async fn version() -> Response {
    json(StatusCode::OK, &version_info())
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
        .into_response()
}

fn is_public(path: &str) -> bool {
    matches!(path, "/livez" | "/readyz" | "/healthz" | "/version")
}

/// Bearer token or client certificate; anonymous requests only reach the public paths.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let user = match bearer {
        Some(token) => match state.tokens().authenticate(token) {
            Some(user) => Some(user),
            None => return Failure(ApiError::unauthorized()).into_response(),
        },
        None => req.extensions().get::<PeerUser>().and_then(|p| p.0.clone()),
    };
    match user {
        Some(user) => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        None if is_public(req.uri().path()) => next.run(req).await,
        None => Failure(ApiError::unauthorized()).into_response(),
    }
}

fn parse_query(uri: &Uri) -> Result<HashMap<String, String>, ApiError> {
    match uri.query() {
        None => Ok(HashMap::new()),
        Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map(|pairs| pairs.into_iter().collect())
            .map_err(|e| ApiError::bad_request(&format!("invalid query: {e}"))),
    }
}

fn verb(
    method: &Method,
    target: &path::ObjectPath,
    query: &HashMap<String, String>,
) -> &'static str {
    let collection = target.name.is_none();
    match *method {
        Method::GET
            if collection && query.get("watch").is_some_and(|w| w == "true" || w == "1") =>
        {
            "WATCH"
        }
        Method::GET if collection => "LIST",
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE if collection => "DELETECOLLECTION",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

async fn api(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let target = match path::parse(uri.path()) {
        Ok(t) => t,
        Err(e) => return Failure(e).into_response(),
    };
    let discovery = |doc: Option<serde_json::Value>| match doc {
        Some(d) => json(StatusCode::OK, &d),
        None => Failure(ApiError::not_found_path(uri.path())).into_response(),
    };
    let aggregated = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(resources::wants_aggregated_discovery);
    let target = match target {
        Target::CoreVersions | Target::Groups if aggregated => {
            let doc = resources::aggregated_discovery(matches!(target, Target::CoreVersions));
            let body = serde_json::to_vec(&doc).unwrap_or_default();
            return (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, resources::AGGREGATED_DISCOVERY),
                    (header::VARY, "Accept"),
                ],
                body,
            )
                .into_response();
        }
        Target::CoreVersions => {
            return json(StatusCode::OK, &resources::api_versions(state.address()));
        }
        Target::Groups => return json(StatusCode::OK, &resources::api_group_list()),
        Target::Group(g) => return discovery(resources::api_group(&g)),
        Target::Resources { group, version } => {
            return discovery(resources::api_resource_list(&group, &version));
        }
        Target::Object(o) => o,
    };
    let query = match parse_query(&uri) {
        Ok(q) => q,
        Err(e) => return Failure(e).into_response(),
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return Failure(ApiError::too_large(&format!(
                "the request body exceeds the limit of {MAX_BODY_BYTES} bytes"
            )))
            .into_response();
        }
    };
    let verb = verb(&method, &target, &query);
    let resource = match &target.subresource {
        Some(s) => format!("{}/{s}", target.resource.plural),
        None => target.resource.plural.to_string(),
    };
    let call = Call {
        method,
        target,
        query,
        headers,
        body,
    };
    let response = match handlers::dispatch(&state, call).await {
        Ok(r) => r,
        Err(f) => f.into_response(),
    };
    state.metrics().observe(
        verb,
        &resource,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
