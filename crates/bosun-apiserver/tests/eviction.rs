//! `POST pods/{name}/eviction` over real HTTPS, raw and through the `kube` crate's `evict`: the
//! pod is deleted gracefully with the Eviction's delete options and the answer is 201 with a
//! Status Success; bad Evictions and missing pods get a Status error and change nothing.

mod support;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams};
use reqwest::Method;
use serde_json::{Value, json};
use support::Server;

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(name: &str, node: Option<&str>) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}],
        "terminationGracePeriodSeconds": 12});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

fn eviction(name: &str, options: Value) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": name, "namespace": "default"}, "deleteOptions": options})
}

async fn evict(server: &Server, name: &str, body: &Value) -> (u16, Value) {
    server
        .call(Method::POST, &format!("{PODS}/{name}/eviction"), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eviction_deletes_the_pod_gracefully_and_answers_201_success() {
    let server = Server::start(100).await;
    let (code, created) = server
        .call(Method::POST, PODS, Some(&pod("web", Some("node-1"))))
        .await;
    assert_eq!(code, 201, "{created}");

    // Refused evictions leave the pod alone.
    let (code, status) = evict(&server, "web", &eviction("other", json!({}))).await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    assert_eq!(
        status["message"],
        "name in URL does not match name in Eviction object"
    );
    let (code, status) = evict(
        &server,
        "web",
        &eviction("web", json!({"gracePeriodSeconds": -3})),
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "deleteOptions.gracePeriodSeconds"
    );
    let (code, status) = evict(
        &server,
        "web",
        &eviction("web", json!({"preconditions": {"uid": "not-the-uid"}})),
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (409, Some("Conflict")));
    let (code, status) = evict(
        &server,
        "web",
        &eviction("web", json!({"gracePeriodSeconds": 4, "dryRun": ["All"]})),
    )
    .await;
    assert_eq!(code, 201, "{status}");
    let (_, unchanged) = server.call(Method::GET, &format!("{PODS}/web"), None).await;
    assert!(
        unchanged["metadata"].get("deletionTimestamp").is_none(),
        "{unchanged}"
    );

    // A scheduled pod is marked for graceful deletion with the eviction's grace period.
    let uid = created["metadata"]["uid"].clone();
    let (code, status) = evict(
        &server,
        "web",
        &eviction(
            "web",
            json!({"gracePeriodSeconds": 7, "preconditions": {"uid": uid}}),
        ),
    )
    .await;
    assert_eq!(code, 201, "{status}");
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
    );
    let (code, marked) = server.call(Method::GET, &format!("{PODS}/web"), None).await;
    assert_eq!(code, 200);
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 7);
    assert!(marked["metadata"]["deletionTimestamp"].is_string());

    // A pod no node runs is gone at once.
    server
        .call(Method::POST, PODS, Some(&pod("pending", None)))
        .await;
    let (code, _) = evict(&server, "pending", &eviction("pending", json!({}))).await;
    assert_eq!(code, 201);
    let (code, _) = server
        .call(Method::GET, &format!("{PODS}/pending"), None)
        .await;
    assert_eq!(code, 404);

    let (code, status) = evict(&server, "nope", &eviction("nope", json!({}))).await;
    assert_eq!(code, 404);
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["message"], "pods \"nope\" not found");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kube_crate_evicts_pods() {
    let server = Server::start(100).await;
    server
        .call(Method::POST, PODS, Some(&pod("web", Some("node-1"))))
        .await;
    let pods: Api<Pod> = Api::namespaced(server.kube(), "default");
    let status = pods
        .evict("web", &EvictParams::default())
        .await
        .expect("evict");
    assert_eq!(status.code, 201);
    // kube sends its options as `delete_options`, which the API server ignores as an unknown
    // field (as upstream does): the pod's own grace period applies.
    let marked = pods.get("web").await.expect("get");
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(12));
    assert!(marked.metadata.deletion_timestamp.is_some());

    match pods.evict("nope", &EvictParams::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    server.stop().await;
}
