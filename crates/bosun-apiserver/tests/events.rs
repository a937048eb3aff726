//! core/v1 and events.k8s.io/v1 Events are one stored object in two forms, over real HTTPS:
//! what is written through one API is read, listed, watched, updated and patched through the
//! other, converted; and `kubectl get events.v1.events.k8s.io` prints them.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::Server;

const CORE: &str = "/api/v1/namespaces/default/events";
const V1: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

fn core_event(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1"},
        "message": "Pulled the image", "reason": "Pulled", "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:05Z",
        "count": 2})
}

fn v1_event(name: &str) -> Value {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name},
        "regarding": {"kind": "Deployment", "name": "api", "namespace": "default"},
        "related": {"kind": "ReplicaSet", "name": "api-1"},
        "note": "Scaled up replica set api-1 to 2", "reason": "ScalingReplicaSet",
        "type": "Normal", "action": "Scale",
        "reportingController": "bosun.io/deployment-controller",
        "reportingInstance": "controller-manager-1",
        "eventTime": "2026-01-01T00:00:00.000000Z"})
}

/// The first line of a watch from `rv` that mentions `needle`, parsed.
async fn watched(server: &Server, path: &str, rv: &str, needle: &str) -> Value {
    let mut resp = server
        .request(
            Method::GET,
            &format!("{path}?watch=true&resourceVersion={rv}&timeoutSeconds=10"),
        )
        .send()
        .await
        .expect("watch");
    assert_eq!(resp.status(), 200);
    let mut buf = Vec::new();
    loop {
        let event = support::next_watch_event(&mut resp, &mut buf).await;
        if event.to_string().contains(needle) {
            return event;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_written_through_either_api_is_read_through_the_other() {
    let server = Server::start(100).await;

    // core → events.k8s.io
    let (code, created) = server
        .call(Method::POST, CORE, Some(&core_event("pulled")))
        .await;
    assert_eq!(code, 201, "{created}");
    let (code, seen) = server
        .call(Method::GET, &format!("{V1}/pulled"), None)
        .await;
    assert_eq!(code, 200, "{seen}");
    assert_eq!(seen["apiVersion"], "events.k8s.io/v1");
    assert_eq!(seen["note"], "Pulled the image");
    assert_eq!(seen["regarding"]["name"], "web");
    assert_eq!(seen["deprecatedSource"]["component"], "kubelet");
    assert_eq!(seen["reportingController"], "kubelet");
    assert_eq!(seen["reportingInstance"], "node-1");
    assert_eq!(seen["deprecatedCount"], 2);
    assert_eq!(seen["deprecatedFirstTimestamp"], "2026-01-01T00:00:00Z");
    assert_eq!(seen["deprecatedLastTimestamp"], "2026-01-01T00:00:05Z");
    assert_eq!(seen["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        seen["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
    assert!(seen.get("message").is_none() && seen.get("involvedObject").is_none());

    // events.k8s.io → core
    let (code, created) = server
        .call(Method::POST, V1, Some(&v1_event("scaled")))
        .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["apiVersion"], "events.k8s.io/v1");
    assert_eq!(created["note"], "Scaled up replica set api-1 to 2");
    let (code, core) = server
        .call(Method::GET, &format!("{CORE}/scaled"), None)
        .await;
    assert_eq!(code, 200, "{core}");
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["message"], "Scaled up replica set api-1 to 2");
    assert_eq!(core["involvedObject"]["kind"], "Deployment");
    assert_eq!(core["related"]["name"], "api-1");
    assert_eq!(core["reportingComponent"], "bosun.io/deployment-controller");
    assert_eq!(core["reportingInstance"], "controller-manager-1");
    assert_eq!(core["action"], "Scale");
    assert_eq!(core["eventTime"], "2026-01-01T00:00:00.000000Z");

    // A name is one object in both APIs.
    let (code, status) = server
        .call(Method::POST, V1, Some(&v1_event("pulled")))
        .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );

    // LIST through both, from the store and from the watch cache (resourceVersion=0).
    for query in ["", "?resourceVersion=0"] {
        let (code, list) = server
            .call(Method::GET, &format!("{V1}{query}"), None)
            .await;
        assert_eq!(code, 200);
        assert_eq!(list["kind"], "EventList");
        assert_eq!(list["apiVersion"], "events.k8s.io/v1");
        let notes: Vec<&str> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["note"].as_str())
            .collect();
        assert_eq!(
            notes,
            ["Pulled the image", "Scaled up replica set api-1 to 2"],
            "{query}"
        );
        let (_, list) = server
            .call(Method::GET, &format!("{CORE}{query}"), None)
            .await;
        let messages: Vec<&str> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["message"].as_str())
            .collect();
        assert_eq!(messages.len(), 2, "{query}");
    }
    // Field selectors speak each API's field names.
    let (code, list) = server
        .call(
            Method::GET,
            &format!("{V1}?fieldSelector=regarding.kind%3DDeployment"),
            None,
        )
        .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["metadata"]["name"], "scaled");

    // UPDATE through events.k8s.io, PATCH through core; each seen by the other.
    let mut update = seen.clone();
    update["note"] = json!("Pulled the image again");
    let (code, updated) = server
        .call(Method::PUT, &format!("{V1}/pulled"), Some(&update))
        .await;
    assert_eq!(code, 200, "{updated}");
    let (_, core) = server
        .call(Method::GET, &format!("{CORE}/pulled"), None)
        .await;
    assert_eq!(core["message"], "Pulled the image again");
    let resp = server
        .request(Method::PATCH, &format!("{CORE}/scaled"))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"count": 5, "message": "patched"}).to_string())
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status(), 200);
    let rv = resp.json::<Value>().await.expect("patched")["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let (_, seen) = server
        .call(Method::GET, &format!("{V1}/scaled"), None)
        .await;
    assert_eq!(seen["note"], "patched");
    assert_eq!(seen["deprecatedCount"], 5);
    let resp = server
        .request(Method::PATCH, &format!("{V1}/scaled"))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"note": "patched twice"}).to_string())
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status(), 200);
    let (_, core) = server
        .call(Method::GET, &format!("{CORE}/scaled"), None)
        .await;
    assert_eq!(core["message"], "patched twice");

    // WATCH events.k8s.io sees a core write, converted (cache-served, from a resourceVersion).
    let (code, _) = server
        .call(Method::POST, CORE, Some(&core_event("later")))
        .await;
    assert_eq!(code, 201);
    let ev = watched(&server, V1, &rv, "\"later\"").await;
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["object"]["note"], "Pulled the image");
    // ... and core sees an events.k8s.io write.
    let (code, _) = server
        .call(Method::POST, V1, Some(&v1_event("later-v1")))
        .await;
    assert_eq!(code, 201);
    let ev = watched(&server, CORE, &rv, "\"later-v1\"").await;
    assert_eq!(ev["object"]["apiVersion"], "v1");
    assert_eq!(ev["object"]["message"], "Scaled up replica set api-1 to 2");

    // DELETE through events.k8s.io removes it from core.
    let (code, _) = server
        .call(Method::DELETE, &format!("{V1}/pulled"), None)
        .await;
    assert_eq!(code, 200);
    let (code, _) = server
        .call(Method::GET, &format!("{CORE}/pulled"), None)
        .await;
    assert_eq!(code, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_events_through_events_k8s_io() {
    let server = Server::start(100).await;
    let (code, _) = server
        .call(Method::POST, CORE, Some(&core_event("pulled")))
        .await;
    assert_eq!(code, 201);
    let (code, _) = server
        .call(Method::POST, V1, Some(&v1_event("scaled")))
        .await;
    assert_eq!(code, 201);
    let out = server
        .kubectl(&["get", "events.v1.events.k8s.io", "-n", "default"])
        .await;
    assert!(out.contains("Pulled the image"), "{out}");
    assert!(out.contains("pod/web"), "{out}");
    assert!(out.contains("Scaled up replica set api-1 to 2"), "{out}");
    assert!(out.contains("deployment/api"), "{out}");
    let json_out = server
        .kubectl(&[
            "get",
            "events.v1.events.k8s.io",
            "-n",
            "default",
            "pulled",
            "-o",
            "json",
        ])
        .await;
    let obj: Value = serde_json::from_str(&json_out).expect("json");
    assert_eq!(obj["apiVersion"], "events.k8s.io/v1");
    assert_eq!(obj["note"], "Pulled the image");
    let core = server.kubectl(&["get", "events", "-n", "default"]).await;
    assert!(core.contains("Scaled up replica set api-1 to 2"), "{core}");
    server.stop().await;
}
