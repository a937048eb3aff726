//! The OpenAPI documents: `/openapi/v3` (an index of per-group-version documents) and
//! `/openapi/v2` (one Swagger 2.0 document), built from [`crate::schema`] once, on first
//! request, and kept as bytes.
//!
//! Every operation carries `x-kubernetes-group-version-kind` and the `fieldValidation`
//! parameter, which is how kubectl learns that the server validates fields (and then sends
//! `fieldValidation=Strict`); every kind's definition carries `x-kubernetes-group-version-kind`,
//! which is how `kubectl explain` finds it.
//!
//! kubectl asks for `/openapi/v2` only as protobuf (gnostic's `openapi_v2.Document`), which
//! bosun does not encode: a request that accepts only that gets 406 Not Acceptable, and kubectl
//! carries on with the v3 documents, which it prefers anyway. Other clients get JSON.

use crate::response::Failure;
use crate::schema::{self, Catalog, Gvk, V3_PREFIX};
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bosun_api::{ApiError, ResourceInfo, resources};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The protobuf form of the v2 document kubectl asks for.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The served documents, serialized.
#[derive(Debug)]
struct Documents {
    /// `api/v1`, `apis/apps/v1`, ... → (content hash, document).
    v3: BTreeMap<String, (String, Bytes)>,
    v3_index: Bytes,
    v2: Bytes,
}

static DOCUMENTS: OnceLock<Documents> = OnceLock::new();

fn documents() -> &'static Documents {
    DOCUMENTS.get_or_init(|| build(schema::catalog()))
}

fn gv_path(res: &ResourceInfo) -> String {
    if res.group.is_empty() {
        format!("api/{}", res.version)
    } else {
        format!("apis/{}/{}", res.group, res.version)
    }
}

/// A stable hash of a document's bytes (FNV-1a), for the index's `serverRelativeURL`.
fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

fn serialize(doc: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(doc).unwrap_or_else(|_| b"{}".to_vec()))
}

fn build(catalog: &Catalog) -> Documents {
    let mut by_gv: BTreeMap<String, Vec<&'static ResourceInfo>> = BTreeMap::new();
    // metrics.k8s.io is computed on request and has no schemas in k8s-openapi: left out, as a
    // cluster without metrics-server's OpenAPI would.
    for res in resources::all().iter().filter(|r| !r.is_computed()) {
        by_gv.entry(gv_path(res)).or_default().push(res);
    }
    let mut v3 = BTreeMap::new();
    let mut index = Map::new();
    for (gv, list) in &by_gv {
        let bytes = serialize(&group_version_document(catalog, list));
        let h = hash(&bytes);
        index.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={h}")}),
        );
        v3.insert(gv.clone(), (h, bytes));
    }
    let all: Vec<&ResourceInfo> = resources::all()
        .iter()
        .filter(|r| !r.is_computed())
        .collect();
    Documents {
        v3,
        v3_index: serialize(&json!({"paths": index})),
        v2: serialize(&v2_document(catalog, &all)),
    }
}

/// The definition names a resource's operations speak: its kind, its list, and the kinds
/// of its subresources.
fn kind_refs(catalog: &Catalog, res: &ResourceInfo) -> Vec<(Gvk, String)> {
    let mut out = Vec::new();
    let gvk = Gvk::new(res.group, res.version, res.kind);
    if let Some(name) = catalog.kinds.get(&gvk) {
        out.push((gvk.clone(), name.clone()));
        out.push((
            Gvk::new(res.group, res.version, &format!("{}List", res.kind)),
            format!("{name}List"),
        ));
    }
    for sub in res.subresources {
        let gvk = Gvk::new(sub.group, sub.version, sub.kind);
        if let Some(name) = catalog.kinds.get(&gvk) {
            out.push((gvk, name.clone()));
        }
    }
    out
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params() -> Vec<Value> {
    vec![
        query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ),
        query_param(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        query_param(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
        ),
    ]
}

fn schema_ref(prefix: &str, name: &str) -> Value {
    json!({"$ref": format!("{prefix}{name}")})
}

/// One operation of the v3 document.
fn operation(action: &str, gvk: &Gvk, name: Option<&str>, sub: Option<&str>) -> Value {
    let mut params = match action {
        "post" | "put" | "patch" => write_params(),
        _ => Vec::new(),
    };
    if action == "patch" {
        params.push(query_param(
            "force",
            "Force is going to \"force\" Apply requests.",
        ));
    }
    let content = |types: &[&str]| -> Value {
        let schema = name.map_or_else(|| json!({"type": "object"}), |n| schema_ref(V3_PREFIX, n));
        Value::Object(
            types
                .iter()
                .map(|t| (t.to_string(), json!({"schema": schema})))
                .collect(),
        )
    };
    let verb = match action {
        "post" => "create",
        "put" => "replace",
        "patch" => "patch",
        "delete" => "delete",
        "list" => "list",
        _ => "read",
    };
    let mut op = json!({
        "description": format!("{verb} the specified {}", gvk.kind),
        "operationId": format!("{verb}{}{}", gvk.kind, sub.map(|s| format!("_{s}")).unwrap_or_default()),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": content(&["application/json", "application/yaml"])}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": gvk.group, "version": gvk.version, "kind": gvk.kind},
    });
    match action {
        "post" | "put" => {
            op["requestBody"] = json!({"content": content(&["*/*"]), "required": true});
        }
        "patch" => {
            op["requestBody"] = json!({"content": {
                "application/apply-patch+yaml": {"schema": {"type": "object"}},
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
                "application/strategic-merge-patch+json": {"schema": {"type": "object"}},
            }, "required": true});
        }
        _ => {}
    }
    op
}

/// The paths of one resource in a document, with `item` operations per subresource.
fn resource_paths(catalog: &Catalog, res: &ResourceInfo) -> Vec<(String, Value)> {
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
    let gvk = Gvk::new(res.group, res.version, res.kind);
    let name = catalog.kinds.get(&gvk).map(String::as_str);
    let list_name = name.map(|n| format!("{n}List"));
    let list_gvk = Gvk::new(res.group, res.version, &format!("{}List", res.kind));
    let mut out = vec![
        (
            collection,
            json!({
                "get": operation("list", &list_gvk, list_name.as_deref(), None),
                "post": operation("post", &gvk, name, None),
                "delete": operation("deletecollection", &gvk, None, None),
            }),
        ),
        (
            item.clone(),
            json!({
                "get": operation("get", &gvk, name, None),
                "put": operation("put", &gvk, name, None),
                "patch": operation("patch", &gvk, name, None),
                "delete": operation("delete", &gvk, None, None),
            }),
        ),
    ];
    for sub in res.subresources {
        let sub_gvk = Gvk::new(sub.group, sub.version, sub.kind);
        let sub_name = catalog.kinds.get(&sub_gvk).map(String::as_str);
        let mut ops = Map::new();
        for verb in sub.verbs {
            let (method, action) = match *verb {
                "get" => ("get", "get"),
                "update" => ("put", "put"),
                "patch" => ("patch", "patch"),
                "create" => ("post", "post"),
                _ => continue,
            };
            ops.insert(
                method.into(),
                operation(action, &sub_gvk, sub_name, Some(sub.name)),
            );
        }
        out.push((format!("{item}/{}", sub.name), Value::Object(ops)));
    }
    out
}

/// The v3 document of one group version.
fn group_version_document(catalog: &Catalog, list: &[&'static ResourceInfo]) -> Value {
    let mut paths = Map::new();
    let mut roots = vec![
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status".to_string(),
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions".to_string(),
    ];
    for res in list {
        for (path, ops) in resource_paths(catalog, res) {
            paths.insert(path, ops);
        }
        roots.extend(kind_refs(catalog, res).into_iter().map(|(_, n)| n));
    }
    let schemas: Map<String, Value> = catalog
        .closure(roots.iter().map(String::as_str))
        .into_iter()
        .filter_map(|n| catalog.definitions.get(&n).map(|d| (n, d.clone())))
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// A v3 schema as Swagger 2.0 writes it: references into `#/definitions/`, a single
/// `allOf` reference back to a plain `$ref`, no `nullable`.
fn to_v2(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match k.as_str() {
                    "$ref" => {
                        let target = v
                            .as_str()
                            .map(|r| r.replace(V3_PREFIX, "#/definitions/"))
                            .unwrap_or_default();
                        out.insert(k.clone(), json!(target));
                    }
                    "allOf" if schema::reference(schema).is_some() => {
                        let name = schema::reference(schema).unwrap_or_default();
                        out.insert("$ref".into(), json!(format!("#/definitions/{name}")));
                    }
                    "nullable" | "default" => {}
                    _ => {
                        out.insert(k.clone(), to_v2(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v2).collect()),
        other => other.clone(),
    }
}

/// The Swagger 2.0 document of every served resource.
fn v2_document(catalog: &Catalog, list: &[&'static ResourceInfo]) -> Value {
    let mut paths = Map::new();
    let mut roots = vec!["io.k8s.apimachinery.pkg.apis.meta.v1.Status".to_string()];
    for res in list {
        for (path, ops) in resource_paths(catalog, res) {
            let ops = match ops {
                Value::Object(ops) => ops
                    .into_iter()
                    .map(|(method, op)| {
                        let keep = json!({
                            "operationId": op["operationId"],
                            "description": op["description"],
                            "parameters": op["parameters"].as_array().map(|ps| ps.iter().map(|p| json!({"name": p["name"], "in": "query", "type": "string", "uniqueItems": true, "description": p["description"]})).collect::<Vec<_>>()),
                            "responses": {"200": {"description": "OK"}},
                            "x-kubernetes-action": op["x-kubernetes-action"],
                            "x-kubernetes-group-version-kind": op["x-kubernetes-group-version-kind"],
                        });
                        (method, keep)
                    })
                    .collect(),
                _ => Map::new(),
            };
            paths.insert(path, Value::Object(ops));
        }
        roots.extend(kind_refs(catalog, res).into_iter().map(|(_, n)| n));
    }
    let definitions: Map<String, Value> = catalog
        .closure(roots.iter().map(String::as_str))
        .into_iter()
        .filter_map(|n| catalog.definitions.get(&n).map(|d| (n, to_v2(d))))
        .collect();
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "definitions": definitions,
    })
}

fn json_bytes(bytes: &Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        bytes.clone(),
    )
        .into_response()
}

/// `GET /openapi/v3`: where each group version's document is.
pub async fn index() -> Response {
    json_bytes(&documents().v3_index)
}

/// `GET /openapi/v3/<api/v1 | apis/group/version>`.
pub async fn group_version(Path(path): Path<String>) -> Response {
    match documents().v3.get(path.trim_end_matches('/')) {
        Some((_, bytes)) => json_bytes(bytes),
        None => Failure(ApiError::not_found_path(&format!("/openapi/v3/{path}"))).into_response(),
    }
}

/// Whether an `Accept` header admits JSON (absent, `*/*`, `application/*` or JSON itself).
fn accepts_json(headers: &HeaderMap) -> bool {
    let mut any = false;
    for value in headers.get_all(header::ACCEPT) {
        any = true;
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let media = part.split(';').next().unwrap_or_default().trim();
            if matches!(media, "application/json" | "*/*" | "application/*" | "") {
                return true;
            }
        }
    }
    !any
}

/// `GET /openapi/v2`: JSON, or 406 to a client that accepts only the protobuf form.
pub async fn v2(headers: HeaderMap) -> Response {
    if !accepts_json(&headers) {
        return Failure(ApiError::not_acceptable(&format!(
            "only the following media types are accepted: application/json (asked: {})",
            headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        )))
        .into_response();
    }
    json_bytes(&documents().v2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(gv: &str) -> Value {
        let (_, bytes) = documents().v3.get(gv).expect("document");
        serde_json::from_slice(bytes).expect("json")
    }

    #[test]
    fn the_index_names_every_group_version_with_a_content_hash() {
        let index: Value = serde_json::from_slice(&documents().v3_index).expect("json");
        for gv in [
            "api/v1",
            "apis/apps/v1",
            "apis/batch/v1",
            "apis/events.k8s.io/v1",
        ] {
            let url = index["paths"][gv]["serverRelativeURL"]
                .as_str()
                .expect("url");
            let (h, _) = &documents().v3[gv];
            assert_eq!(url, format!("/openapi/v3/{gv}?hash={h}"));
        }
    }

    #[test]
    fn a_group_version_document_carries_its_kinds_and_everything_they_refer_to() {
        let apps = doc("apis/apps/v1");
        let schemas = apps["components"]["schemas"].as_object().expect("schemas");
        let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
        );
        assert!(schemas.contains_key("io.k8s.api.core.v1.PodSpec"));
        assert!(schemas.contains_key("io.k8s.api.autoscaling.v1.Scale"));
        assert!(!schemas.contains_key("io.k8s.api.core.v1.Pod"));
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .expect("params")
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        // Every reference resolves inside the document.
        let text = serde_json::to_string(&apps).expect("text");
        for piece in text.split("\"$ref\":\"").skip(1) {
            let target = piece.split('"').next().unwrap_or_default();
            let name = target.trim_start_matches(V3_PREFIX);
            assert!(schemas.contains_key(name), "{target} does not resolve");
        }
    }

    #[test]
    fn the_v2_document_refers_into_definitions() {
        let v2: Value = serde_json::from_slice(&documents().v2).expect("json");
        assert_eq!(v2["swagger"], "2.0");
        let defs = v2["definitions"].as_object().expect("definitions");
        let spec = &defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
        assert_eq!(
            spec["$ref"],
            "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy"
        );
        assert!(spec.get("allOf").is_none());
        let text = serde_json::to_string(&v2).expect("text");
        assert!(!text.contains("#/components/schemas/"));
    }

    #[test]
    fn only_a_client_that_accepts_json_gets_the_v2_document() {
        let mut headers = HeaderMap::new();
        assert!(accepts_json(&headers));
        headers.insert(header::ACCEPT, V2_PROTOBUF.parse().expect("header"));
        assert!(!accepts_json(&headers));
        headers.insert(
            header::ACCEPT,
            "application/json, */*".parse().expect("header"),
        );
        assert!(accepts_json(&headers));
    }
}
