//! The agent: registers its Node(s), renews their Leases, watches the pods bound to them and
//! keeps one [`pod_worker`](crate::pod_worker) per pod. With the simulated runtime one agent can
//! stand for many nodes.

use crate::ip_pool::IpPool;
use crate::node_status::{self, NodeFacts};
use crate::pod_worker::{self, PodInput, PodWorker, WorkerContext};
use crate::runtime::{ContainerInfo, ContainerRuntime};
use crate::server::PodNames;
use bosun_events::Recorder as EventRecorder;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ContainerImage, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Status updates in flight at once, across the agent's pods.
const API_WRITES: usize = 16;
/// Pod workers syncing at once (each sync holds its requests' buffers).
const SYNCS: usize = 64;

/// The label every simulated Node carries.
const SIMULATED_LABEL: (&str, &str) = ("type", "simulated");

/// Errors that stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("pod CIDR: {0}")]
    Cidr(#[from] crate::ip_pool::IpPoolError),
    #[error("the container runtime failed: {0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
}

/// How an agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The nodes this agent is: one, or many when simulating.
    pub nodes: Vec<NodeFacts>,
    pub lease_interval: Duration,
    pub lease_duration_s: i32,
    /// How often the Node's status is refreshed even when nothing changed.
    pub status_interval: Duration,
}

/// A running agent.
#[derive(Debug)]
pub struct Agent {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// Start the agent's tasks. Registration is retried until the API server answers.
    /// `endpoint`: the listener and TLS configuration of the agent's HTTPS endpoint (logs),
    /// whose port the Node advertises.
    pub fn start(
        mut config: AgentConfig,
        client: kube::Client,
        runtime: Arc<dyn ContainerRuntime>,
        endpoint: Option<(tokio::net::TcpListener, Arc<rustls::ServerConfig>)>,
    ) -> Result<Self, AgentError> {
        let mut pools = HashMap::new();
        for n in &config.nodes {
            pools.insert(n.name.clone(), IpPool::new(&n.pod_cidr)?);
        }
        let stop = CancellationToken::new();
        let mut names = None;
        if let Some((listener, tls)) = endpoint {
            let shared = PodNames::default();
            names = Some(shared.clone());
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            for n in &mut config.nodes {
                n.port = port;
            }
            let node_name = config
                .nodes
                .first()
                .map(|n| n.name.clone())
                .unwrap_or_default();
            tokio::spawn(crate::server::serve(
                listener,
                tls,
                runtime.clone(),
                node_name,
                shared,
                stop.clone(),
            ));
        }
        let task = tokio::spawn(run(config, client, runtime, pools, names, stop.clone()));
        Ok(Self { stop, task })
    }

    /// Stop the agent; pods keep running and are adopted by the next agent.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn register(
    client: &kube::Client,
    runtime: &dyn ContainerRuntime,
    facts: &NodeFacts,
) -> kube::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let ready = runtime.health().await.map_err(|e| e.to_string());
    let now = Timestamp::now();
    let images = images(runtime).await;
    let node = node_status::node(facts, images.clone(), ready.clone(), now);
    match api.get_opt(&facts.name).await? {
        None => match api.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e),
        },
        Some(existing) => {
            let mut annotations = serde_json::json!(node.metadata.annotations);
            if facts.limits.is_ok()
                && let Some(a) = annotations.as_object_mut()
            {
                // A reason left from an earlier run no longer holds.
                a.insert(
                    node_status::LIMITS_REASON_ANNOTATION.into(),
                    serde_json::Value::Null,
                );
            }
            let patch = serde_json::json!({"metadata": {"labels": node.metadata.labels, "annotations": annotations}, "spec": {"podCIDR": facts.pod_cidr, "podCIDRs": [facts.pod_cidr]}});
            api.patch(&facts.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            let old = existing
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default();
            let status = node_status::status(facts, images, ready, &old, now);
            api.patch_status(
                &facts.name,
                &PatchParams::default(),
                &Patch::Merge(&serde_json::json!({"status": status})),
            )
            .await?;
        }
    }
    Ok(())
}

/// The runtime's images for `status.images`: the largest first, at most 50 (the kubelet's
/// default).
async fn images(runtime: &dyn ContainerRuntime) -> Vec<ContainerImage> {
    let mut images = runtime.images().await.unwrap_or_default();
    images.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
    images
        .into_iter()
        .take(50)
        .map(|i| ContainerImage {
            names: Some(i.names),
            size_bytes: Some(i.size_bytes),
        })
        .collect()
}

async fn renew_lease(client: &kube::Client, node: &str, duration_s: i32) -> kube::Result<()> {
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let now = MicroTime(Timestamp::now());
    let patch = serde_json::json!({"spec": {"holderIdentity": node, "leaseDurationSeconds": duration_s, "renewTime": now}});
    match api
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(node.to_string()),
                    namespace: Some("kube-node-lease".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(node.to_string()),
                    lease_duration_seconds: Some(duration_s),
                    renew_time: Some(now),
                    ..LeaseSpec::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

async fn refresh_status(
    client: &kube::Client,
    runtime: &dyn ContainerRuntime,
    facts: &NodeFacts,
) -> kube::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let Some(existing) = api.get_opt(&facts.name).await? else {
        return register(client, runtime, facts).await;
    };
    let ready = runtime.health().await.map_err(|e| e.to_string());
    let old = existing
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    let conditions = node_status::conditions(ready, &old, Timestamp::now());
    let images = images(runtime).await;
    api.patch_status(
        &facts.name,
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"status": {"conditions": conditions, "images": images}})),
    )
    .await
    .map(|_| ())
}

/// Registration, then leases and node status on their intervals.
async fn heartbeat(
    config: AgentConfig,
    client: kube::Client,
    runtime: Arc<dyn ContainerRuntime>,
    stop: CancellationToken,
) {
    for facts in &config.nodes {
        loop {
            match register(&client, runtime.as_ref(), facts).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(node = %facts.name, error = %e, "registration failed; retrying")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
    let mut lease_tick = tokio::time::interval(config.lease_interval);
    let mut status_tick = tokio::time::interval(config.status_interval);
    status_tick.tick().await;
    // The agent's own Nodes as the API has them, to re-post readiness someone else changed.
    let watch = match config.nodes.as_slice() {
        [one] => watcher::Config::default().fields(&format!("metadata.name={}", one.name)),
        _ => watcher::Config::default()
            .labels(&format!("{}={}", SIMULATED_LABEL.0, SIMULATED_LABEL.1)),
    };
    let mut own_nodes = watcher(Api::<Node>::all(client.clone()), watch)
        .default_backoff()
        .applied_objects()
        .boxed();
    let by_name: HashMap<&str, &NodeFacts> =
        config.nodes.iter().map(|f| (f.name.as_str(), f)).collect();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            Some(Ok(node)) = own_nodes.next() => {
                let Some(facts) = node.metadata.name.as_deref().and_then(|n| by_name.get(n)) else {
                    continue;
                };
                let healthy = runtime.health().await.is_ok();
                if node_status::ready_differs(&node, healthy) {
                    tracing::info!(node = %facts.name, "the API's Node differs in readiness; posting status");
                    if let Err(e) = refresh_status(&client, runtime.as_ref(), facts).await {
                        tracing::warn!(node = %facts.name, error = %e, "node status update failed");
                    }
                }
            }
            _ = lease_tick.tick() => {
                let names: Vec<String> = config.nodes.iter().map(|n| n.name.clone()).collect();
                let duration = config.lease_duration_s;
                let results = futures::stream::iter(names)
                    .map(|name| {
                        let client = client.clone();
                        async move { renew_lease(&client, &name, duration).await }
                    })
                    .buffer_unordered(32)
                    .collect::<Vec<_>>()
                    .await;
                if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
                    tracing::warn!(error = %e, "lease renewal failed");
                }
            }
            _ = status_tick.tick() => {
                for facts in &config.nodes {
                    if let Err(e) = refresh_status(&client, runtime.as_ref(), facts).await {
                        tracing::warn!(node = %facts.name, error = %e, "node status update failed");
                    }
                }
            }
        }
    }
}

struct PodTable {
    workers: HashMap<String, PodWorker>,
    /// The same pods' names, for the endpoint's usage summary (when there is an endpoint).
    names: Option<PodNames>,
    /// pod uid → node name, for address release.
    node_of: HashMap<String, String>,
    pools: HashMap<String, IpPool>,
    containers: HashMap<String, Vec<ContainerInfo>>,
}

async fn run(
    config: AgentConfig,
    client: kube::Client,
    runtime: Arc<dyn ContainerRuntime>,
    pools: HashMap<String, IpPool>,
    names: Option<PodNames>,
    stop: CancellationToken,
) {
    let hb = tokio::spawn(heartbeat(
        config.clone(),
        client.clone(),
        runtime.clone(),
        stop.clone(),
    ));
    let node_names: HashSet<String> = config.nodes.iter().map(|n| n.name.clone()).collect();
    let host_ips: HashMap<String, String> = config
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.address.clone()))
        .collect();
    let pods: Api<Pod> = Api::all(client.clone());
    let watch_config = if config.nodes.len() == 1 {
        watcher::Config::default().fields(&format!("spec.nodeName={}", config.nodes[0].name))
    } else {
        watcher::Config::default()
    };
    // Only what the agent reads is kept (managedFields, the scheduler's fields, the status
    // it reports itself...), as client-go's informers drop managedFields.
    let mut events = watcher(pods, watch_config)
        .modify(crate::lifecycle::trim)
        .boxed();
    let mut table = PodTable {
        workers: HashMap::new(),
        names,
        node_of: HashMap::new(),
        pools,
        containers: HashMap::new(),
    };
    // What the runtime already runs: adopted by the workers of the pods that still exist.
    if let Ok(existing) = runtime.list().await {
        for c in existing {
            table
                .containers
                .entry(c.pod_uid.clone())
                .or_default()
                .push(c);
        }
    }
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    let mut initial: Option<HashSet<String>> = None;
    let mut synced_once = false;
    let worker_stop = stop.child_token();
    // What every pod worker shares; each gets a copy naming its node.
    let base = WorkerContext {
        client: client.clone(),
        runtime: runtime.clone(),
        node_name: String::new(),
        host_ip: String::new(),
        api_slots: Arc::new(tokio::sync::Semaphore::new(API_WRITES)),
        sync_slots: Arc::new(tokio::sync::Semaphore::new(SYNCS)),
        events: EventRecorder::start(client.clone(), 8, worker_stop.clone()),
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(uid) = done_rx.recv() => {
                table.workers.remove(&uid);
                table.containers.remove(&uid);
                if let Some(names) = &table.names {
                    names
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&uid);
                }
                if let Some(node) = table.node_of.remove(&uid)
                    && let Some(pool) = table.pools.get_mut(&node)
                {
                    pool.release(&uid);
                }
            }
            _ = runtime.changed() => {
                if let Ok(all) = runtime.list().await {
                    let mut by_pod: HashMap<String, Vec<ContainerInfo>> = HashMap::new();
                    for c in all {
                        by_pod.entry(c.pod_uid.clone()).or_default().push(c);
                    }
                    for (uid, cs) in &by_pod {
                        if table.containers.get(uid) != Some(cs)
                            && let Some(w) = table.workers.get(uid)
                        {
                            let _ = w.input.send(PodInput::Containers(cs.clone()));
                        }
                    }
                    table.containers = by_pod;
                }
            }
            event = events.next() => {
                let Some(event) = event else { break };
                match event {
                    Ok(watcher::Event::Init) => initial = Some(HashSet::new()),
                    Ok(watcher::Event::InitApply(pod)) => {
                        if let Some(seen) = initial.as_mut()
                            && let Some(uid) = &pod.metadata.uid
                        {
                            seen.insert(uid.clone());
                        }
                        on_pod(&mut table, pod, &node_names, &host_ips, &base, &done_tx, &worker_stop);
                    }
                    Ok(watcher::Event::InitDone) => {
                        let seen = initial.take().unwrap_or_default();
                        for (uid, w) in &table.workers {
                            if !seen.contains(uid) {
                                let _ = w.input.send(PodInput::Gone);
                            }
                        }
                        if !synced_once {
                            synced_once = true;
                            // Containers of pods the API no longer has are stopped.
                            let orphans: Vec<String> = table.containers.keys().filter(|uid| !seen.contains(*uid)).cloned().collect();
                            for uid in orphans {
                                tracing::info!(pod_uid = %uid, "stopping containers of a pod the API no longer has");
                                if let Err(e) = runtime.remove_sandbox(&uid).await {
                                    tracing::warn!(error = %e, "remove orphan");
                                }
                                table.containers.remove(&uid);
                            }
                        }
                    }
                    Ok(watcher::Event::Apply(pod)) => {
                        on_pod(&mut table, pod, &node_names, &host_ips, &base, &done_tx, &worker_stop);
                    }
                    Ok(watcher::Event::Delete(pod)) => {
                        if let Some(w) = pod.metadata.uid.as_ref().and_then(|u| table.workers.get(u)) {
                            let _ = w.input.send(PodInput::Gone);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "pod watch failed; retrying");
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }
    }
    worker_stop.cancel();
    let _ = hb.await;
}

#[allow(clippy::too_many_arguments)]
fn on_pod(
    table: &mut PodTable,
    pod: Pod,
    nodes: &HashSet<String>,
    host_ips: &HashMap<String, String>,
    base: &WorkerContext,
    done: &mpsc::UnboundedSender<String>,
    stop: &CancellationToken,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
        return;
    };
    if !nodes.contains(&node) {
        return;
    }
    let pod = Arc::new(pod);
    if let Some(w) = table.workers.get(&uid) {
        let _ = w.input.send(PodInput::Pod(pod));
        return;
    }
    // A finished pod that this agent has no containers for needs nothing.
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let known = table.containers.contains_key(&uid);
    if matches!(phase, Some("Succeeded" | "Failed"))
        && !known
        && pod.metadata.deletion_timestamp.is_none()
    {
        return;
    }
    let Some(pool) = table.pools.get_mut(&node) else {
        return;
    };
    let adopted_ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
        .filter(|ip| known && pool.reserve(&uid, *ip));
    let ip = match adopted_ip {
        Some(ip) => ip,
        None => match pool.allocate(&uid) {
            Ok(ip) => ip,
            Err(e) => {
                tracing::warn!(error = %e, "no pod address");
                return;
            }
        },
    };
    let ctx = WorkerContext {
        node_name: node.clone(),
        host_ip: host_ips.get(&node).cloned().unwrap_or_default(),
        ..base.clone()
    };
    let adopted = table.containers.get(&uid).cloned().unwrap_or_default();
    let pod_name = (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    let worker = pod_worker::spawn(ctx, pod, ip, adopted, done.clone(), stop.child_token());
    table.node_of.insert(uid.clone(), node);
    if let Some(names) = &table.names {
        names
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(uid.clone(), pod_name);
    }
    table.workers.insert(uid, worker);
}

/// Facts for `count` simulated nodes named `<prefix>-<i>`, each with its own /24.
pub fn simulated_nodes(prefix: &str, count: usize, template: &NodeFacts) -> Vec<NodeFacts> {
    (0..count)
        .map(|i| NodeFacts {
            name: format!("{prefix}-{i}"),
            pod_cidr: format!("10.{}.{}.0/24", 64 + (i / 256) % 64, i % 256),
            labels: {
                let mut l = template.labels.clone();
                l.insert(SIMULATED_LABEL.0.into(), SIMULATED_LABEL.1.into());
                l
            },
            ..template.clone()
        })
        .collect::<Vec<_>>()
}

/// Labels given on the command line as `k=v,k2=v2`.
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("label {p:?}: want key=value"))
        })
        .collect()
}

/// Stop and remove every pod the runtime has (the agent's `--stop-pods-on-exit`).
pub async fn stop_all(runtime: &dyn ContainerRuntime) {
    let Ok(all) = runtime.list().await else {
        return;
    };
    let uids: HashSet<String> = all.into_iter().map(|c| c.pod_uid).collect();
    let removals = uids.iter().map(|uid| runtime.remove_sandbox(uid));
    for r in futures::future::join_all(removals).await {
        if let Err(e) = r {
            tracing::warn!(error = %e, "stop pod");
        }
    }
}
