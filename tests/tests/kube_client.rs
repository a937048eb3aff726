//! The Rust `kube` crate against `bosun up`: typed CRUD, and a watcher feeding a reflector store
//! that follows creates, patches and deletes.

use bosun_e2e::Up;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn client(up: &Up) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(up.kubeconfig()).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

fn cm(name: &str, value: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.data = Some(BTreeMap::from([("k".to_string(), value.to_string())]));
    c
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kube_reflector_follows_configmaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &[]);
    let cms: Api<ConfigMap> = Api::namespaced(client(&up).await, "default");

    cms.create(&PostParams::default(), &cm("before", "1"))
        .await
        .expect("create");
    let (reader, writer) = reflector::store();
    let stream = watcher(cms.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));

    let key = |name: &str| ObjectRef::<ConfigMap>::new(name).within("default");
    eventually("the initial list", || reader.get(&key("before")).is_some()).await;

    cms.create(&PostParams::default(), &cm("after", "1"))
        .await
        .expect("create");
    eventually("the created object", || reader.get(&key("after")).is_some()).await;

    let patch = serde_json::json!({"data": {"k": "2"}});
    cms.patch("after", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    eventually("the patched object", || {
        reader
            .get(&key("after"))
            .and_then(|c| c.data.clone())
            .and_then(|d| d.get("k").cloned())
            == Some("2".into())
    })
    .await;

    cms.delete("before", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the deletion", || reader.get(&key("before")).is_none()).await;
    task.abort();

    let names: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(names, vec!["after".to_string()]);
    let err = cms.get("before").await.expect_err("deleted");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );
}
