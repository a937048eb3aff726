//! OpenAPI v3 documents, enough for kubectl to leave validation to the server: per group
//! version, every resource's paths with their operations, each carrying
//! `x-kubernetes-group-version-kind` and the `fieldValidation` parameter.

use crate::response::{Failure, json};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bosun_api::{ApiError, ResourceInfo, resources};
use serde_json::{Map, Value, json};

fn gv_path(res: &ResourceInfo) -> String {
    if res.group.is_empty() {
        format!("api/{}", res.version)
    } else {
        format!("apis/{}/{}", res.group, res.version)
    }
}

/// `GET /openapi/v3`: where each group version's document is.
pub async fn index() -> Response {
    let mut paths = Map::new();
    for res in resources::all() {
        let gv = gv_path(res);
        paths.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={}", hash(&gv))}),
        );
    }
    json(StatusCode::OK, &json!({"paths": paths}))
}

fn hash(gv: &str) -> String {
    // Stable per build: the document only changes with the binary.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in gv.bytes().chain(env!("CARGO_PKG_VERSION").bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

fn param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(res: &ResourceInfo, action: &str) -> Value {
    json!({
        "operationId": format!("{action}{}", res.kind),
        "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation")],
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": res.group, "version": res.version, "kind": res.kind},
    })
}

/// `GET /openapi/v3/<api/v1 | apis/group/version>`.
pub async fn group_version(Path(path): Path<String>) -> Response {
    let matching: Vec<&ResourceInfo> = resources::all()
        .iter()
        .filter(|r| gv_path(r) == path)
        .collect();
    if matching.is_empty() {
        return Failure(ApiError::not_found_path(&format!("/openapi/v3/{path}"))).into_response();
    }
    let mut paths = Map::new();
    for res in matching {
        let base = format!("/{}", gv_path(res));
        let (collection, item) = if res.namespaced {
            (
                format!("{base}/namespaces/{{namespace}}/{}", res.plural),
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", res.plural),
            )
        } else {
            (
                format!("{base}/{}", res.plural),
                format!("{base}/{}/{{name}}", res.plural),
            )
        };
        paths.insert(
            collection,
            json!({"post": operation(res, "post"), "get": operation(res, "list")}),
        );
        paths.insert(
            item,
            json!({"get": operation(res, "get"), "put": operation(res, "put"), "patch": operation(res, "patch"), "delete": operation(res, "delete")}),
        );
    }
    json(
        StatusCode::OK,
        &json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths, "components": {"schemas": {}}}),
    )
}
