//! The API server's router in-process over the memory store (no socket): bad input gets a
//! Status with the field and reason, and nothing is half-written.

use axum::body::Body;
use axum::http::Request;
use bosun_store::{RangeRequest, Store};
use serde_json::json;
use tower::ServiceExt;

mod in_process;

use in_process::{Api, api};

impl Api {
    async fn keys(&self) -> usize {
        Store::range(self.store.as_ref(), RangeRequest::prefix("/registry/"))
            .await
            .expect("range")
            .kvs
            .len()
    }
}

fn cm(name: &str) -> String {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
        .to_string()
}

#[tokio::test]
async fn malformed_bodies_name_the_line_and_column_and_write_nothing() {
    let api = api().await;
    let before = api.keys().await;
    let (code, status) = api
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "{\n \"metadata\": {\"name\": }\n}",
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(status["reason"], "BadRequest");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line 2"),
        "{status}"
    );
    let (code, status) = api
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/yaml",
            "metadata:\n  name: [unclosed\n",
        )
        .await;
    assert_eq!(code, 400, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line"),
        "{status}"
    );
    assert_eq!(api.keys().await, before);
}

#[tokio::test]
async fn unknown_resources_and_versions_are_not_found_by_name() {
    let api = api().await;
    let (code, status) = api
        .call(
            "GET",
            "/apis/apps/v1/namespaces/default/widgets",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 404);
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("widgets"),
        "{status}"
    );
    let (code, _) = api
        .call("GET", "/apis/apps/v7", "application/json", "")
        .await;
    assert_eq!(code, 404);
    let (code, status) = api
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            json!({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "x"}}).to_string(),
        )
        .await;
    assert_eq!(code, 400);
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Widget"),
        "{status}"
    );
}

#[tokio::test]
async fn oversized_bodies_and_objects_are_refused() {
    let api = api().await;
    let before = api.keys().await;
    let huge = "x".repeat(3 * 1024 * 1024 + 1);
    let (code, status) = api
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            huge,
        )
        .await;
    assert_eq!(code, 413);
    assert_eq!(status["reason"], "RequestEntityTooLarge");
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "v".repeat(1536 * 1024 + 10)}});
    let (code, _) = api
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            big.to_string(),
        )
        .await;
    assert_eq!(code, 413);
    assert_eq!(api.keys().await, before);
}

#[tokio::test]
async fn invalid_selectors_are_bad_requests_naming_them() {
    let api = api().await;
    let (code, status) = api
        .call(
            "GET",
            "/api/v1/namespaces/default/pods?labelSelector=a%20in%20(b",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 400);
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("a in (b"),
        "{status}"
    );
    let (code, status) = api
        .call(
            "GET",
            "/api/v1/pods?fieldSelector=spec.image%3Dx",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(status["message"], "field label not supported: spec.image");
}

#[tokio::test]
async fn a_stale_resource_version_is_a_conflict_and_the_object_is_unchanged() {
    let api = api().await;
    let (code, created) = api
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            cm("c"),
        )
        .await;
    assert_eq!(code, 201);
    let mut update = created.clone();
    update["data"]["k"] = json!("new");
    let (code, _) = api
        .call(
            "PUT",
            "/api/v1/namespaces/default/configmaps/c",
            "application/json",
            update.to_string(),
        )
        .await;
    assert_eq!(code, 200);
    let mut stale = created.clone();
    stale["data"]["k"] = json!("stale");
    let (code, status) = api
        .call(
            "PUT",
            "/api/v1/namespaces/default/configmaps/c",
            "application/json",
            stale.to_string(),
        )
        .await;
    assert_eq!(code, 409);
    assert_eq!(status["reason"], "Conflict");
    let (_, now) = api
        .call(
            "GET",
            "/api/v1/namespaces/default/configmaps/c",
            "application/json",
            "",
        )
        .await;
    assert_eq!(now["data"]["k"], "new");
}

#[tokio::test]
async fn creates_in_missing_namespaces_and_duplicates_are_refused() {
    let api = api().await;
    let (code, status) = api
        .call(
            "POST",
            "/api/v1/namespaces/nope/configmaps",
            "application/json",
            cm("c"),
        )
        .await;
    assert_eq!(code, 404);
    assert_eq!(status["message"], "namespaces \"nope\" not found");
    let (code, _) = api
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            cm("c"),
        )
        .await;
    assert_eq!(code, 201);
    let (code, status) = api
        .call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            cm("c"),
        )
        .await;
    assert_eq!(code, 409);
    assert_eq!(status["reason"], "AlreadyExists");
}

#[tokio::test]
async fn creates_in_a_terminating_namespace_are_refused() {
    let api = api().await;
    let (code, _) = api
        .call_json(
            "POST",
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}),
        )
        .await;
    assert_eq!(code, 201);
    // Right after the namespace's create the server's cache may not hold it yet: the store does.
    let uri = "/api/v1/namespaces/doomed/configmaps";
    let (code, _) = api.call("POST", uri, "application/json", cm("early")).await;
    assert_eq!(code, 201);
    let (code, ns) = api
        .call(
            "DELETE",
            "/api/v1/namespaces/doomed",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(ns["status"]["phase"], "Terminating");
    // As kube-apiserver's admission reads its namespace informer, the refusal follows the
    // namespace's change through this server's watch cache: within moments, not at once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for i in 0.. {
        let (code, status) = api
            .call("POST", uri, "application/json", cm(&format!("late-{i}")))
            .await;
        if code == 403 {
            assert_eq!(status["reason"], "Forbidden");
            assert_eq!(
                status["message"],
                "unable to create new content in namespace doomed because it is being terminated"
            );
            break;
        }
        assert_eq!(code, 201, "{status}");
        assert!(
            std::time::Instant::now() < deadline,
            "creates still accepted 5 s after the namespace went Terminating"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn lists_page_with_limit_and_continue() {
    let api = api().await;
    for i in 0..7 {
        api.call(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            cm(&format!("c{i}")),
        )
        .await;
    }
    let mut names = Vec::new();
    let mut cont = String::new();
    loop {
        let uri = format!("/api/v1/namespaces/default/configmaps?limit=3&continue={cont}");
        let (code, list) = api.call("GET", &uri, "application/json", "").await;
        assert_eq!(code, 200);
        assert_eq!(list["kind"], "ConfigMapList");
        names.extend(
            list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["metadata"]["name"].as_str().map(String::from)),
        );
        match list["metadata"]["continue"].as_str() {
            Some(c) => cont = c.to_string(),
            None => break,
        }
    }
    assert_eq!(names, (0..7).map(|i| format!("c{i}")).collect::<Vec<_>>());
    let (code, _) = api
        .call(
            "GET",
            "/api/v1/namespaces/default/configmaps?limit=3&continue=garbage",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn anonymous_requests_get_401_except_health_and_version() {
    let api = api().await;
    for (uri, want) in [
        ("/version", 200),
        ("/livez", 200),
        ("/readyz", 200),
        ("/api", 401),
        ("/api/v1/namespaces", 401),
        ("/metrics", 401),
    ] {
        let req = Request::builder()
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        let resp = api.app.clone().oneshot(req).await.expect("response");
        assert_eq!(resp.status().as_u16(), want, "{uri}");
    }
}

/// Five random characters from 27 collide about 14 times in 20,000 names with one prefix
/// (birthday bound: 20,000^2 / (2 * 27^5)); without a retry on a taken generated name, some of
/// these creates would fail with 409 AlreadyExists (the chance that none collides is below
/// one in a million).
#[tokio::test]
async fn a_taken_generated_name_is_generated_again() {
    let api = api().await;
    let before = api.keys().await;
    let mut names = std::collections::HashSet::new();
    for i in 0..20_000 {
        let (code, body) = api
            .call(
                "POST",
                "/api/v1/namespaces/default/configmaps",
                "application/json",
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"generateName": "same-prefix-"}})
                .to_string(),
            )
            .await;
        assert_eq!(code, 201, "create {i}: {body}");
        let name = body["metadata"]["name"].as_str().expect("name").to_string();
        assert!(names.insert(name), "a name was handed out twice");
    }
    assert_eq!(api.keys().await, before + 20_000);
}
