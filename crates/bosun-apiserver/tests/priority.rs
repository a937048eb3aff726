//! Priority admission through the API server's router over the memory store: pods get their
//! PriorityClass's value, the global default or 0; a missing class or a disagreeing priority
//! is a Forbidden Status and nothing is written.

use axum::http::StatusCode;
use serde_json::{Value, json};

mod in_process;

use in_process::{Api, api};

impl Api {
    async fn create_pod(&self, name: &str, spec: Value) -> (StatusCode, Value) {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c", "image": "sleep"}]);
        self.call_json(
            "POST",
            "/api/v1/namespaces/default/pods",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}),
        )
        .await
    }

    async fn create_class(&self, name: &str, value: i64, default: bool) {
        let (code, body) = self
            .call_json(
                "POST",
                "/apis/scheduling.k8s.io/v1/priorityclasses",
                json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                    "metadata": {"name": name}, "value": value, "globalDefault": default}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
}

#[tokio::test]
async fn pods_get_their_class_priority_or_the_default_and_bad_ones_are_forbidden() {
    let api = api().await;
    // Creating the system classes again (every server start does) changes nothing.
    bosun_apiserver::priority::ensure_system_classes(api.store.as_ref())
        .await
        .expect("idempotent");
    let (code, pod) = api.create_pod("plain", json!({})).await;
    assert_eq!(code, StatusCode::CREATED, "{pod}");
    assert_eq!(pod["spec"]["priority"], 0);
    assert_eq!(pod["spec"]["preemptionPolicy"], "PreemptLowerPriority");

    let (code, status) = api
        .create_pod("ghost", json!({"priorityClassName": "ghost"}))
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["message"],
        "pods \"ghost\" is forbidden: no PriorityClass with name ghost was found"
    );
    let (code, _) = api
        .call_json("GET", "/api/v1/namespaces/default/pods/ghost", Value::Null)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "nothing written");

    // A class created just before the pod is found at once.
    api.create_class("high", 1000, false).await;
    let (code, pod) = api
        .create_pod("urgent", json!({"priorityClassName": "high"}))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{pod}");
    assert_eq!(pod["spec"]["priority"], 1000);

    let (code, status) = api
        .create_pod("liar", json!({"priorityClassName": "high", "priority": 5}))
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");

    let (code, pod) = api
        .create_pod(
            "critical",
            json!({"priorityClassName": "system-node-critical"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{pod}");
    assert_eq!(pod["spec"]["priority"], 2_000_001_000);
    let (code, list) = api
        .call_json(
            "GET",
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            Value::Null,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let names: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert!(
        names.contains(&"system-node-critical") && names.contains(&"system-cluster-critical"),
        "{names:?}"
    );

    api.create_class("everyday", 100, true).await;
    // The cache may take a moment to see the new default; a pod created after it has the
    // default's value.
    let mut got = Value::Null;
    for i in 0..50 {
        let (code, pod) = api.create_pod(&format!("later-{i}"), json!({})).await;
        assert_eq!(code, StatusCode::CREATED, "{pod}");
        got = pod;
        if got["spec"]["priority"] == 100 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(got["spec"]["priority"], 100, "{got}");
    assert_eq!(got["spec"]["priorityClassName"], "everyday");

    // Only one default; system- names and huge values are the system's.
    for (name, value, default, code) in [
        ("another", 5, true, StatusCode::FORBIDDEN),
        ("system-mine", 5, false, StatusCode::UNPROCESSABLE_ENTITY),
        (
            "huge",
            1_000_000_001,
            false,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (got, status) = api
            .call_json(
                "POST",
                "/apis/scheduling.k8s.io/v1/priorityclasses",
                json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                    "metadata": {"name": name}, "value": value, "globalDefault": default}),
            )
            .await;
        assert_eq!(got, code, "{name}: {status}");
    }
}
