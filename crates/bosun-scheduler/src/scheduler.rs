//! The scheduler's I/O: watches of nodes and pods feed the snapshot and the queue; decisions
//! are bound with `POST pods/{name}/binding` (several in flight, each pod assumed on its node
//! meanwhile); unschedulable pods get the PodScheduled=False condition and an Event.

use crate::events::{self, Involved, Record};
use crate::framework::{Decision, Profile, schedule};
use crate::preemption::{self, Candidate};
use crate::queue::SchedulingQueue;
use crate::snapshot::Snapshot;
use crate::wire::WatchedPod;
use bosun_events::Recorder;
use bosun_leader::ElectionConfig;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, Namespace, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::IgnoredAny;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The annotation holding why a pod went where it did.
pub const EXPLANATION_ANNOTATION: &str = "scheduling.bosun.dev/explanation";

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The profiles served, each under its schedulerName; pods naming another scheduler are
    /// left alone.
    pub profiles: Vec<Profile>,
    /// Bindings in flight at once.
    pub bind_concurrency: usize,
    /// Record Scheduled / FailedScheduling Events.
    pub record_events: bool,
    /// Keep the explanation with each bound pod (an annotation set through the binding).
    pub explain: bool,
    /// Stand for election before scheduling (None: schedule at once).
    pub leader_election: Option<ElectionConfig>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            profiles: vec![Profile::default()],
            bind_concurrency: 64,
            record_events: true,
            explain: true,
            leader_election: None,
        }
    }
}

/// Run until `stop`, as leader when an election is configured.
pub async fn run(client: kube::Client, config: SchedulerConfig, stop: CancellationToken) {
    match config.leader_election.clone() {
        Some(election) => {
            bosun_leader::run_elected(client.clone(), election, stop, move |token| {
                schedule_loop(client.clone(), config.clone(), token)
            })
            .await
        }
        None => schedule_loop(client, config, stop).await,
    }
}

enum Input {
    Node(Box<watcher::Event<Node>>),
    Pod(Box<watcher::Event<Pod>>),
    Namespace(Box<watcher::Event<Namespace>>),
}

struct BindResult {
    uid: String,
    ok: bool,
}

/// The scheduler a pod asks for.
fn scheduler_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .filter(|n| !n.is_empty())
        .unwrap_or("default-scheduler")
}

/// A watch event of [`WatchedPod`]s as one of `Pod`s.
fn unwrap_pods(e: watcher::Event<WatchedPod>) -> watcher::Event<Pod> {
    match e {
        watcher::Event::Apply(p) => watcher::Event::Apply(p.0),
        watcher::Event::Delete(p) => watcher::Event::Delete(p.0),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(p) => watcher::Event::InitApply(p.0),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn spawn_watch<K, F>(
    api: Api<K>,
    tx: mpsc::UnboundedSender<Input>,
    wrap: F,
    stop: CancellationToken,
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: Fn(watcher::Event<K>) -> Input + Send + 'static,
{
    tokio::spawn(async move {
        // The cache keeps no managedFields (unused here, and most of a small pod's size; the
        // pods' are not even decoded, see `WatchedPod`).
        let stream = watcher(api, watcher::Config::default())
            .modify(|o: &mut K| o.meta_mut().managed_fields = None);
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                ev = stream.next() => match ev {
                    None => break,
                    Some(Ok(ev)) => if tx.send(wrap(ev)).is_err() { break },
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "watch failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                },
            }
        }
    });
}

struct State {
    snapshot: Snapshot,
    queue: SchedulingQueue,
    /// Pods assumed on a node while their binding is in flight.
    assumed: HashMap<String, String>,
    nodes_synced: bool,
    pods_synced: bool,
    scheduler_names: HashSet<String>,
}

impl State {
    fn on_pod(&mut self, pod: Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        match crate::framework::nominated_node(&pod) {
            Some(n)
                if node.is_none()
                    && !is_terminal(&pod)
                    && pod.metadata.deletion_timestamp.is_none() =>
            {
                self.snapshot.nominate(&pod, n)
            }
            _ => self.snapshot.forget_nomination(&uid),
        }
        if is_terminal(&pod) {
            self.snapshot.remove_pod(&uid);
            self.queue.delete(&uid);
            self.queue.move_all_to_active(Instant::now());
            return;
        }
        if let Some(node) = node {
            self.assumed.remove(&uid);
            self.snapshot.add_pod(&pod, &node);
            self.queue.delete(&uid);
            return;
        }
        if self.assumed.contains_key(&uid) {
            return; // our binding is on its way
        }
        let ours = self.scheduler_names.contains(scheduler_name(&pod));
        if pod.metadata.deletion_timestamp.is_some() || !ours {
            self.queue.delete(&uid);
            return;
        }
        self.queue.add_or_update(Arc::new(pod));
    }

    fn on_pod_deleted(&mut self, pod: &Pod) {
        let Some(uid) = pod.metadata.uid.as_deref() else {
            return;
        };
        self.snapshot.remove_pod(uid);
        self.snapshot.forget_nomination(uid);
        self.assumed.remove(uid);
        self.queue.delete(uid);
        self.queue.move_all_to_active(Instant::now());
    }
}

async fn schedule_loop(client: kube::Client, config: SchedulerConfig, stop: CancellationToken) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn_watch(
        Api::<Node>::all(client.clone()),
        tx.clone(),
        |e| Input::Node(Box::new(e)),
        stop.clone(),
    );
    spawn_watch(
        Api::<WatchedPod>::all(client.clone()),
        tx.clone(),
        |e| Input::Pod(Box::new(unwrap_pods(e))),
        stop.clone(),
    );
    spawn_watch(
        Api::<Namespace>::all(client.clone()),
        tx,
        |e| Input::Namespace(Box::new(e)),
        stop.clone(),
    );
    let (bind_tx, mut bind_rx) = mpsc::unbounded_channel::<BindResult>();
    // Victims whose deletion was not done (the preemption's writes failed).
    let (spared_tx, mut spared_rx) = mpsc::unbounded_channel::<Vec<String>>();
    let mut st = State {
        snapshot: Snapshot::default(),
        queue: SchedulingQueue::default(),
        assumed: HashMap::new(),
        nodes_synced: false,
        pods_synced: false,
        scheduler_names: config
            .profiles
            .iter()
            .map(|p| p.scheduler_name.clone())
            .collect(),
    };
    // One writer, as client-go's: under a burst of bindings most Scheduled Events are dropped
    // rather than compete with the bindings for the store.
    let recorder = if config.record_events {
        Recorder::start(client.clone(), 1, stop.clone())
    } else {
        Recorder::disabled()
    };
    let mut in_flight = 0usize;
    let mut start = 0usize;
    let slots = Arc::new(tokio::sync::Semaphore::new(config.bind_concurrency.max(1)));
    loop {
        let wake = st.queue.next_wakeup().map_or(Duration::from_secs(1), |at| {
            at.saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1))
        });
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(input) = rx.recv() => {
                let mut batch = vec![input];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                    if batch.len() >= 4096 { break; }
                }
                for input in batch {
                    let input = match input {
                        Input::Node(e) => Ok(*e),
                        Input::Pod(e) => Err(*e),
                        Input::Namespace(e) => {
                            match *e {
                                watcher::Event::Apply(ns) | watcher::Event::InitApply(ns) => {
                                    st.snapshot.upsert_namespace(&ns);
                                }
                                watcher::Event::Delete(ns) => {
                                    if let Some(name) = &ns.metadata.name { st.snapshot.remove_namespace(name); }
                                }
                                watcher::Event::Init | watcher::Event::InitDone => {}
                            }
                            continue;
                        }
                    };
                    match input {
                        Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n)) => {
                            st.snapshot.upsert_node(Arc::new(n));
                            st.queue.move_all_to_active(Instant::now());
                        }
                        Ok(watcher::Event::Delete(n)) => {
                            if let Some(name) = &n.metadata.name { st.snapshot.remove_node(name); }
                        }
                        Ok(watcher::Event::InitDone) => st.nodes_synced = true,
                        Ok(watcher::Event::Init) => {}
                        Err(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => st.on_pod(p),
                        Err(watcher::Event::Delete(p)) => st.on_pod_deleted(&p),
                        Err(watcher::Event::InitDone) => st.pods_synced = true,
                        Err(watcher::Event::Init) => {}
                    }
                }
            }
            Some(spared) = spared_rx.recv() => {
                for uid in spared {
                    st.snapshot.mark_preempted(&uid, false);
                }
                st.queue.move_all_to_active(Instant::now());
            }
            Some(result) = bind_rx.recv() => {
                in_flight -= 1;
                if !result.ok {
                    // Forget the assumption and try again later.
                    if st.assumed.remove(&result.uid).is_some() {
                        st.snapshot.remove_pod(&result.uid);
                    }
                    st.queue.requeue_with_backoff(&result.uid, Instant::now());
                } else {
                    st.queue.delete(&result.uid);
                }
            }
            _ = tokio::time::sleep(wake) => {}
        }
        if !(st.nodes_synced && st.pods_synced) {
            continue;
        }
        let now = Instant::now();
        while in_flight < config.bind_concurrency {
            let Some(pod) = st.queue.pop(now) else { break };
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            start = start.wrapping_add(1);
            let Some(profile) = config
                .profiles
                .iter()
                .find(|p| p.scheduler_name == scheduler_name(&pod))
            else {
                st.queue.delete(&uid);
                continue;
            };
            match schedule(&pod, &st.snapshot, profile, start) {
                Decision::Bind { node, explanation } => {
                    st.snapshot.add_pod(&pod, &node);
                    st.snapshot.forget_nomination(&uid);
                    st.assumed.insert(uid.clone(), node.clone());
                    in_flight += 1;
                    let explanation = config
                        .explain
                        .then(|| serde_json::to_string(&explanation).unwrap_or_default());
                    let client = client.clone();
                    let tx = bind_tx.clone();
                    let slots = slots.clone();
                    let recorder = recorder.clone();
                    tokio::spawn(async move {
                        let _slot = slots.acquire().await;
                        let ok = bind(&client, &pod, &node, explanation).await;
                        if ok {
                            record(&recorder, || {
                                let involved = Involved::pod(&pod);
                                let message = format!(
                                    "Successfully assigned {}/{} to {node}",
                                    involved.namespace, involved.name
                                );
                                Record {
                                    involved,
                                    type_: "Normal",
                                    reason: "Scheduled",
                                    message,
                                }
                            });
                        }
                        let _ = tx.send(BindResult { uid, ok });
                    });
                }
                Decision::Unschedulable { message, .. } => {
                    match preemption::preempt(&pod, &st.snapshot, profile) {
                        Ok(candidate) => {
                            // Assume the victims gone and the pod nominated until the watch
                            // says so, so that the next attempt waits instead of preempting
                            // again.
                            for v in &candidate.victims {
                                st.snapshot.mark_preempted(&v.uid, true);
                            }
                            let mut nominated = (*pod).clone();
                            nominated
                                .status
                                .get_or_insert_with(Default::default)
                                .nominated_node_name = Some(candidate.node.clone());
                            st.snapshot.nominate(&nominated, &candidate.node);
                            let nominated = Arc::new(nominated);
                            st.queue.add_or_update(nominated.clone());
                            st.queue.mark_unschedulable(&uid, now);
                            tokio::spawn(preempt(
                                client.clone(),
                                nominated,
                                candidate,
                                message,
                                profile.scheduler_name.clone(),
                                recorder.clone(),
                                spared_tx.clone(),
                            ));
                        }
                        Err(why) => {
                            let message = match why {
                                Some(why) => format!("{message} {why}"),
                                None => message,
                            };
                            st.queue.mark_unschedulable(&uid, now);
                            report_failure(&client, pod, "Unschedulable", message, &recorder);
                        }
                    }
                }
                Decision::Invalid { message } => {
                    // Only a change to the pod can help; it is retried when it changes.
                    st.queue.mark_unschedulable(&uid, now);
                    report_failure(&client, pod, "SchedulerError", message, &recorder);
                }
            }
        }
    }
}

async fn bind(client: &kube::Client, pod: &Pod, node: &str, explanation: Option<String>) -> bool {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: pod.metadata.uid.clone(),
            annotations: explanation
                .map(|e| BTreeMap::from([(EXPLANATION_ANNOTATION.to_string(), e)])),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            ..ObjectReference::default()
        },
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    // The answer is a Status: only its code matters, its body is skipped unread.
    match api
        .create_subresource::<Binding, IgnoredAny>(
            "binding",
            &name,
            &PostParams::default(),
            &binding,
        )
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(pod = %name, error = %e, "binding failed");
            false
        }
    }
}

/// PodScheduled=False with `reason` and a FailedScheduling Event, unless the pod says so
/// already.
fn report_failure(
    client: &kube::Client,
    pod: Arc<Pod>,
    reason: &'static str,
    message: String,
    recorder: &Recorder,
) {
    let already = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
        .is_some_and(|c| c.status == "False" && c.message.as_deref() == Some(message.as_str()));
    if already {
        return;
    }
    let client = client.clone();
    let recorder = recorder.clone();
    tokio::spawn(async move {
        mark_unschedulable(&client, &pod, reason, &message).await;
        failed_scheduling(&recorder, &pod, message);
    });
}

/// DefaultPreemption's I/O: nominate the node for the pod (with its PodScheduled=False
/// condition, in one status write), then for each victim a DisruptionTarget condition, a
/// graceful delete and a Preempted Event.
async fn preempt(
    client: kube::Client,
    pod: Arc<Pod>,
    candidate: Candidate,
    message: String,
    scheduler_name: String,
    recorder: Recorder,
    spared: mpsc::UnboundedSender<Vec<String>>,
) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let node = candidate.node;
    tracing::info!(pod = %name, %node, victims = candidate.victims.len(), "preempting");
    let status = unschedulable_status(&node, "Unschedulable", &message);
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    if let Err(e) = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        tracing::debug!(pod = %name, error = %e, "nomination failed");
        let _ = spared.send(candidate.victims.iter().map(|v| v.uid.clone()).collect());
        return;
    }
    failed_scheduling(&recorder, &pod, message);
    let preemptor = pod.metadata.uid.clone().unwrap_or_default();
    for v in candidate.victims {
        let victims: Api<Pod> = Api::namespaced(client.clone(), &v.namespace);
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{scheduler_name}: preempting to accommodate a higher priority pod"),
            "lastTransitionTime": Timestamp::now().to_string(),
        }]}});
        let _ = victims
            .patch_status(
                &v.name,
                &PatchParams::default(),
                &Patch::Strategic(&condition),
            )
            .await;
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(v.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match victims.delete(&v.name, &params).await {
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(victim = %v.name, error = %e, "preemption delete failed");
                let _ = spared.send(vec![v.uid.clone()]);
                continue;
            }
        }
        record(&recorder, || Record {
            involved: Involved {
                namespace: v.namespace.clone(),
                name: v.name.clone(),
                uid: v.uid.clone(),
            },
            type_: "Normal",
            reason: "Preempted",
            message: format!("Preempted by pod {preemptor} on node {node}"),
        });
    }
}

/// A status patch: PodScheduled=False with `reason` and `message`, and the nominated node
/// when there is one.
fn unschedulable_status(nominated: &str, reason: &str, message: &str) -> serde_json::Value {
    let mut patch = json!({"status": {"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": Timestamp::now().to_string(),
    }]}});
    if !nominated.is_empty() {
        patch["status"]["nominatedNodeName"] = json!(nominated);
    }
    patch
}

async fn mark_unschedulable(client: &kube::Client, pod: &Pod, reason: &str, message: &str) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let patch = unschedulable_status("", reason, message);
    if let Err(e) = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::debug!(pod = %name, error = %e, "status update failed");
    }
}

/// Queue one of the scheduler's Events, made by `make` only when the recorder has room for it.
fn record(recorder: &Recorder, make: impl FnOnce() -> Record) {
    recorder.record_with(|| events::typed(&make(), "default-scheduler", Timestamp::now()));
}

/// Queue a FailedScheduling Event for `pod`.
fn failed_scheduling(recorder: &Recorder, pod: &Pod, message: String) {
    record(recorder, || Record {
        involved: Involved::pod(pod),
        type_: "Warning",
        reason: "FailedScheduling",
        message,
    });
}
