//! The watch cache over real HTTPS: a client that lists, then watches from the LIST's
//! revision after other writes came (the scheduler facing a backlog, any informer), is served
//! by the cache, not by a store watch of its own (`apiserver_watches_from_store`).

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::Server;

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(name: &str) -> Value {
    json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

fn watches_from_store(metrics: &str, resource: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!(
                "apiserver_watches_from_store_total{{resource=\"{resource}\"}} "
            ))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_a_lists_revision_is_served_by_the_cache_started_with_the_server() {
    let server = Server::start(16).await;
    for i in 0..5 {
        let (code, body) = server
            .call(Method::POST, PODS, Some(&pod(&format!("a{i}"))))
            .await;
        assert_eq!(code, 201, "{body}");
    }
    // A consistent LIST (no resourceVersion: read from the store, not the cache).
    let (code, list) = server.call(Method::GET, PODS, None).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(5));
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("list resourceVersion")
        .to_string();
    // Writes between the LIST and the watch, as the client's own work makes them.
    for i in 0..3 {
        let (code, body) = server
            .call(Method::POST, PODS, Some(&pod(&format!("b{i}"))))
            .await;
        assert_eq!(code, 201, "{body}");
    }
    let mut watch = server
        .request(
            Method::GET,
            &format!("{PODS}?watch=true&resourceVersion={rv}"),
        )
        .send()
        .await
        .expect("watch");
    assert_eq!(watch.status(), 200);
    let mut seen = Vec::new();
    let mut buf = Vec::new();
    while seen.len() < 3 {
        let ev = support::next_watch_event(&mut watch, &mut buf).await;
        seen.push((
            ev["type"].as_str().unwrap_or_default().to_string(),
            ev["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    let added = |n: &str| ("ADDED".to_string(), n.to_string());
    assert_eq!(seen, [added("b0"), added("b1"), added("b2")]);
    assert_eq!(watches_from_store(&server.metrics().await, "pods"), 0);

    // A watch from before anything the cache holds still works, from the store, and is
    // counted.
    let old = server
        .request(Method::GET, &format!("{PODS}?watch=true&resourceVersion=1"))
        .send()
        .await
        .expect("watch");
    assert_eq!(old.status(), 200);
    assert_eq!(watches_from_store(&server.metrics().await, "pods"), 1);
    drop((watch, old));
    server.stop().await;
}
