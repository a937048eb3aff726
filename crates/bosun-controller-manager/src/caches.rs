//! One watch-fed cache (a `kube` reflector store) per kind the controllers read, and the
//! stream of [`Change`]s that tells the manager what to reconcile.

use bosun_controllers::node::Node;
use bosun_controllers::pod::Pod;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What changed: enough of an object's metadata to find what to reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    /// The controller owner reference: (kind, name).
    pub controller: Option<(String, String)>,
    pub labels: BTreeMap<String, String>,
    /// The object is gone.
    pub deleted: bool,
    /// The object has a deletionTimestamp.
    pub terminating: bool,
}

impl Change {
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The key of the controlling owner when it is of `kind`.
    pub fn owner_key(&self, kind: &str) -> Option<String> {
        let (k, name) = self.controller.as_ref()?;
        (k == kind).then(|| match &self.namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.clone(),
        })
    }
}

fn change_of<K: Resource>(kind: &'static str, obj: &K, deleted: bool) -> Change {
    let meta = obj.meta();
    Change {
        kind,
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: meta
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))
            .map(|r| (r.kind.clone(), r.name.clone())),
        labels: meta.labels.clone().unwrap_or_default(),
        deleted,
        terminating: meta.deletion_timestamp.is_some(),
    }
}

/// Every cache the controllers read.
#[derive(Clone)]
pub struct Caches {
    pub pods: Store<Pod>,
    pub replicasets: Store<ReplicaSet>,
    pub deployments: Store<Deployment>,
    pub daemonsets: Store<DaemonSet>,
    pub statefulsets: Store<StatefulSet>,
    pub revisions: Store<ControllerRevision>,
    pub jobs: Store<Job>,
    pub cronjobs: Store<CronJob>,
    pub nodes: Store<Node>,
    pub node_leases: Store<Lease>,
    pub services: Store<Service>,
    pub endpoints: Store<Endpoints>,
    pub endpoint_slices: Store<EndpointSlice>,
    pub namespaces: Store<Namespace>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("pods", &self.pods.len())
            .finish_non_exhaustive()
    }
}

fn watch<K>(
    api: Api<K>,
    kind: &'static str,
    tx: mpsc::UnboundedSender<Change>,
    stop: CancellationToken,
) -> Store<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    // The caches keep no managedFields, as client-go's informers: no controller reads them,
    // and an update without them keeps the server's (only an empty list would reset them).
    watch_trimmed(api, kind, tx, stop, |o: &mut K| {
        o.meta_mut().managed_fields = None
    })
}

/// A watch whose objects are trimmed by `trim` before they are cached.
fn watch_trimmed<K>(
    api: Api<K>,
    kind: &'static str,
    tx: mpsc::UnboundedSender<Change>,
    stop: CancellationToken,
    trim: fn(&mut K),
) -> Store<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .modify(trim)
        .default_backoff()
        .reflect(writer);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                event = stream.next() => match event {
                    None => break,
                    Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o))) => {
                        let _ = tx.send(change_of(kind, &o, false));
                    }
                    Some(Ok(watcher::Event::Delete(o))) => {
                        let _ = tx.send(change_of(kind, &o, true));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => tracing::debug!(kind, error = %e, "watch failed; retrying"),
                },
            }
        }
    });
    reader
}

impl Caches {
    /// Start every watch; changes arrive on `tx`.
    pub fn start(
        client: &kube::Client,
        tx: mpsc::UnboundedSender<Change>,
        stop: &CancellationToken,
    ) -> Self {
        let c = client.clone();
        Self {
            // Pods as the controllers read them (bosun_controllers::pod): a fraction of the
            // memory of full Pods, and without the annotations no controller reads.
            pods: watch_trimmed(
                Api::all(c.clone()),
                "Pod",
                tx.clone(),
                stop.clone(),
                Pod::trim,
            ),
            replicasets: watch(Api::all(c.clone()), "ReplicaSet", tx.clone(), stop.clone()),
            deployments: watch(Api::all(c.clone()), "Deployment", tx.clone(), stop.clone()),
            daemonsets: watch(Api::all(c.clone()), "DaemonSet", tx.clone(), stop.clone()),
            statefulsets: watch(Api::all(c.clone()), "StatefulSet", tx.clone(), stop.clone()),
            revisions: watch(
                Api::all(c.clone()),
                "ControllerRevision",
                tx.clone(),
                stop.clone(),
            ),
            jobs: watch(Api::all(c.clone()), "Job", tx.clone(), stop.clone()),
            cronjobs: watch(Api::all(c.clone()), "CronJob", tx.clone(), stop.clone()),
            // Nodes as the controllers read them: labels, taints, conditions.
            nodes: watch_trimmed(
                Api::all(c.clone()),
                "Node",
                tx.clone(),
                stop.clone(),
                Node::trim,
            ),
            node_leases: watch(
                Api::namespaced(c.clone(), "kube-node-lease"),
                "Lease",
                tx.clone(),
                stop.clone(),
            ),
            services: watch(Api::all(c.clone()), "Service", tx.clone(), stop.clone()),
            endpoints: watch(Api::all(c.clone()), "Endpoints", tx.clone(), stop.clone()),
            endpoint_slices: watch(
                Api::all(c.clone()),
                "EndpointSlice",
                tx.clone(),
                stop.clone(),
            ),
            namespaces: watch(Api::all(c), "Namespace", tx, stop.clone()),
        }
    }

    /// Empty caches fed by nothing (for tests of what reads them).
    pub fn detached() -> Self {
        fn empty<K>() -> Store<K>
        where
            K: Resource + Clone + 'static,
            K::DynamicType: Default + Eq + std::hash::Hash + Clone,
        {
            reflector::store().0
        }
        Self {
            pods: empty(),
            replicasets: empty(),
            deployments: empty(),
            daemonsets: empty(),
            statefulsets: empty(),
            revisions: empty(),
            jobs: empty(),
            cronjobs: empty(),
            nodes: empty(),
            node_leases: empty(),
            services: empty(),
            endpoints: empty(),
            endpoint_slices: empty(),
            namespaces: empty(),
        }
    }

    /// Wait until every cache has its initial list.
    pub async fn ready(&self) {
        let _ = tokio::join!(
            self.pods.wait_until_ready(),
            self.replicasets.wait_until_ready(),
            self.deployments.wait_until_ready(),
            self.daemonsets.wait_until_ready(),
            self.statefulsets.wait_until_ready(),
            self.revisions.wait_until_ready(),
            self.jobs.wait_until_ready(),
            self.cronjobs.wait_until_ready(),
            self.nodes.wait_until_ready(),
            self.node_leases.wait_until_ready(),
            self.services.wait_until_ready(),
            self.endpoints.wait_until_ready(),
            self.endpoint_slices.wait_until_ready(),
            self.namespaces.wait_until_ready(),
        );
    }
}

/// The object at `key` (`ns/name` or `name`).
pub fn get<K>(store: &Store<K>, key: &str) -> Option<Arc<K>>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let r = match key.split_once('/') {
        Some((ns, name)) => reflector::ObjectRef::new(name).within(ns),
        None => reflector::ObjectRef::new(key),
    };
    store.get(&r)
}

/// Every object of a namespace.
pub fn in_namespace<K>(store: &Store<K>, namespace: &str) -> Vec<Arc<K>>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    store
        .state()
        .into_iter()
        // Compared in place: `ResourceExt::namespace` would copy the name out of every object.
        .filter(|o| o.meta().namespace.as_deref() == Some(namespace))
        .collect()
}
