//! `--max-watches` over real HTTPS: watches up to the cap are served, the next gets 429 with a
//! TooManyRequests Status and Retry-After, and a client that goes away frees its slot.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::Server;

const CM: &str = "/api/v1/namespaces/default/configmaps";

fn open_watches(metrics: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("apiserver_open_watches "))
        .and_then(|v| v.trim().parse().ok())
}

async fn watch(server: &Server, query: &str) -> reqwest::Response {
    server
        .request(Method::GET, &format!("{CM}?watch=true{query}"))
        .send()
        .await
        .expect("watch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_beyond_the_limit_get_429_until_one_closes() {
    let server = Server::start(4).await;
    let (code, created) = server
        .call(
            Method::POST,
            CM,
            Some(&json!({"metadata": {"name": "a"}, "data": {"k": "v"}})),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let rv: i64 = created["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("rv");

    // Every way a watch is served: a store read then the cache (which loads now, after the
    // create), the cache from a resourceVersion, a store watch of its own (a resourceVersion
    // from before the cache's window), and the cache's list-and-watch (resourceVersion=0).
    let mut open = vec![
        watch(&server, "").await,
        watch(&server, &format!("&resourceVersion={rv}")).await,
        watch(&server, &format!("&resourceVersion={}", rv - 1)).await,
        watch(&server, "&resourceVersion=0").await,
    ];
    for w in &open {
        assert_eq!(w.status(), 200);
    }
    assert_eq!(open_watches(&server.metrics().await), Some(4));

    let refused = watch(&server, "").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let status: Value = refused.json().await.expect("status");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["code"], 429);
    assert_eq!(status["details"]["retryAfterSeconds"], 1);
    let message = status["message"].as_str().unwrap_or_default();
    assert!(message.contains("limit of 4 watches"), "{message}");
    assert_eq!(open_watches(&server.metrics().await), Some(4));

    // The client of the store-served watch goes away: its slot comes back (the server notices
    // the closed connection, at the latest when it next writes to it).
    drop(open.remove(2));
    let deadline = Instant::now() + Duration::from_secs(20);
    let reopened = loop {
        let w = watch(&server, "").await;
        if w.status() == 200 {
            break w;
        }
        assert!(
            Instant::now() < deadline,
            "the closed watch's slot never came back"
        );
        let _ = server
            .call(
                Method::PATCH,
                &format!("{CM}/a"),
                Some(&json!({"data": {"k": format!("{:?}", Instant::now())}})),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    open.push(reopened);
    assert_eq!(open_watches(&server.metrics().await), Some(4));
    assert_eq!(watch(&server, "").await.status(), 429);

    drop(open);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_times_out_gives_its_slot_back() {
    let server = Server::start(1).await;
    let first = watch(&server, "&timeoutSeconds=1").await;
    assert_eq!(first.status(), 200);
    assert_eq!(watch(&server, "").await.status(), 429);
    // The server ends the stream after timeoutSeconds; reading it to the end sees that.
    first.bytes().await.expect("the watch ends");
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_watches(&server.metrics().await) != Some(0) {
        assert!(Instant::now() < deadline, "the slot was not released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(watch(&server, "&timeoutSeconds=1").await.status(), 200);
    server.stop().await;
}
