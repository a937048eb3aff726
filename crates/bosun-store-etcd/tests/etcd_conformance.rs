//! The store conformance suite against a real etcd (Debian's etcd-server) on loopback, and the
//! behaviour of the etcd backend when its cluster or its store goes away.
//!
//! These tests need the etcd binary (`/usr/bin/etcd` or `$BOSUN_ETCD_BIN`); without it they fail
//! with a message saying how to install it.

use bosun_store::conformance::Harness;
use bosun_store::{Consistency, Error, Store, WatchRequest, conformance_tests};
use bosun_store_etcd::{EtcdCluster, EtcdStore};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// A fresh cluster of `members` in a temp dir; panics (so the test fails) when etcd is missing.
async fn cluster(members: usize) -> (EtcdCluster, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = EtcdCluster::start(members, dir.path())
        .await
        .unwrap_or_else(|e| panic!("cannot start a {members}-member etcd cluster: {e}"));
    (cluster, dir)
}

async fn etcd() -> Harness {
    let (cluster, dir) = cluster(1).await;
    let store = EtcdStore::connect(&cluster.client_endpoints())
        .await
        .expect("connect");
    Harness {
        store: Arc::new(store),
        guard: Box::new((cluster, dir)),
    }
}

conformance_tests!(etcd);

/// Waits for the next item of a watch, failing the test instead of hanging.
async fn next(
    stream: &mut bosun_store::WatchStream,
) -> Option<bosun_store::Result<bosun_store::Event>> {
    tokio::time::timeout(Duration::from_secs(60), stream.next())
        .await
        .expect("the watch neither yielded nor ended within 60 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_member_of_three_is_read_through_another() {
    let (cluster, _dir) = cluster(3).await;
    let endpoints = cluster.client_endpoints();
    assert_eq!(endpoints.len(), 3);
    let mut pids = cluster.pids();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 3, "three running processes");
    let first = EtcdStore::connect(&endpoints[..1]).await.expect("connect");
    let third = EtcdStore::connect(&endpoints[2..]).await.expect("connect");
    let written = first
        .create("/three/k".into(), "v".into())
        .await
        .expect("create");
    let read = third
        .get(b"/three/k", Consistency::Linearizable)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(read, written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_with_a_retryable_error_when_etcd_dies() {
    let (mut cluster, _dir) = cluster(1).await;
    let store = EtcdStore::connect(&cluster.client_endpoints())
        .await
        .expect("connect");
    let mut stream = store
        .watch(WatchRequest::prefix("/dies/"))
        .await
        .expect("watch");
    store.put("/dies/a".into(), "1".into()).await.expect("put");
    assert!(matches!(next(&mut stream).await, Some(Ok(_))));

    assert!(cluster.kill(0), "the member was running");
    match next(&mut stream).await {
        Some(Err(e)) => assert!(e.is_retryable(), "got {e:?}"),
        other => panic!("expected a retryable error, got {other:?}"),
    }
    assert!(
        next(&mut stream).await.is_none(),
        "the watch ends after its error"
    );

    // Requests fail the same way, within their deadline, instead of hanging.
    let put = store.put("/dies/b".into(), "2".into()).await;
    assert!(
        matches!(&put, Err(e) if e.is_retryable()),
        "put to a dead cluster: {put:?}"
    );
    let read = store.current_revision().await;
    assert!(
        matches!(&read, Err(e) if e.is_retryable()),
        "read from a dead cluster: {read:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_when_its_store_is_dropped() {
    let (cluster, _dir) = cluster(1).await;
    let store = EtcdStore::connect(&cluster.client_endpoints())
        .await
        .expect("connect");
    let clone = store.clone();
    let mut stream = store
        .watch(WatchRequest::prefix("/dropped/"))
        .await
        .expect("watch");
    drop(store);
    // A clone still holds the connection: the watch goes on.
    clone
        .put("/dropped/a".into(), "1".into())
        .await
        .expect("put");
    assert!(matches!(next(&mut stream).await, Some(Ok(e)) if e.kv.key == "/dropped/a"));

    drop(clone);
    match next(&mut stream).await {
        Some(Err(Error::Unavailable(_))) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        next(&mut stream).await.is_none(),
        "the watch ends after its error"
    );
}
