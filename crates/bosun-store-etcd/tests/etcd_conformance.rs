//! The store conformance suite against a real etcd (Debian's etcd-server) on loopback.

use bosun_store::conformance::Harness;
use bosun_store::{Consistency, Store, conformance_tests};
use bosun_store_etcd::EtcdStore;
use bosun_store_etcd::process::EtcdCluster;
use std::sync::Arc;

async fn etcd() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = EtcdCluster::start(1, dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = EtcdStore::connect(&cluster.client_endpoints())
        .await
        .expect("connect");
    Harness {
        store: Arc::new(store),
        guard: Box::new((cluster, dir)),
    }
}

conformance_tests!(etcd);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_member_of_three_is_read_through_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = EtcdCluster::start(3, dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let endpoints = cluster.client_endpoints();
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
