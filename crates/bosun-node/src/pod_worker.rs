//! One task per pod: it keeps the pod's containers as [`lifecycle::plan`] says, runs their
//! probes, reports the pod's status when it changes, and on deletion stops the containers
//! within the grace period and completes the deletion.

use crate::env::{self, Sources};
use crate::lifecycle::{self, Memories, Step};
use crate::probe::{self, ProbeKind, ProbeResult, ProbeTarget};
use crate::runtime::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, RuntimeError, SandboxConfig,
    VolumeData,
};
use bosun_events::Recorder as EventRecorder;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Event, ObjectReference, Pod, PodStatus, Secret,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a pod worker hears about.
#[derive(Debug)]
pub enum PodInput {
    /// The pod as the API has it now.
    Pod(Arc<Pod>),
    /// The pod is gone from the API.
    Gone,
    /// The runtime's containers of this pod.
    Containers(Vec<ContainerInfo>),
    /// Boxed: every pod's channel holds room for its largest input.
    Probe(Box<ProbeResult>),
}

/// What every worker of one agent shares.
#[derive(Clone)]
pub struct WorkerContext {
    pub client: kube::Client,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub node_name: String,
    pub host_ip: String,
    /// Bounds the agent's concurrent API writes: the client speaks HTTP/1.1, so each
    /// concurrent request is a connection (and its TLS buffers).
    pub api_slots: Arc<tokio::sync::Semaphore>,
    /// Bounds how many workers sync at once.
    pub sync_slots: Arc<tokio::sync::Semaphore>,
    /// Where Events go (one writer per agent, apart from status updates).
    pub events: EventRecorder,
}

impl std::fmt::Debug for WorkerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerContext")
            .field("node_name", &self.node_name)
            .finish_non_exhaustive()
    }
}

/// The worker's handle kept by the agent.
#[derive(Debug)]
pub struct PodWorker {
    pub input: Arc<Inbox>,
}

/// What a worker has been told and not yet read: a list under a lock and a wake-up. Lighter
/// than a channel (whose first block holds 32 inputs) for an agent of 30,000 mostly idle pods.
#[derive(Debug, Default)]
pub struct Inbox {
    queue: std::sync::Mutex<Vec<PodInput>>,
    wake: tokio::sync::Notify,
    closed: std::sync::atomic::AtomicBool,
}

impl Inbox {
    /// Hand the worker an input; it comes back when the worker has ended.
    pub fn send(&self, input: PodInput) -> Result<(), PodInput> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(input);
        }
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(input);
        self.wake.notify_one();
        Ok(())
    }

    /// Everything sent so far, waiting for at least one input.
    async fn recv_all(&self) -> Vec<PodInput> {
        loop {
            let inputs = std::mem::take(
                &mut *self
                    .queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            if !inputs.is_empty() {
                return inputs;
            }
            self.wake.notified().await;
        }
    }

    fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// Start a worker for a pod; `ip` is the address the agent gave it. The worker ends when the
/// pod is gone and its containers are stopped; it then sends the uid on `done`.
pub fn spawn(
    ctx: WorkerContext,
    pod: Arc<Pod>,
    ip: Ipv4Addr,
    adopted: Vec<ContainerInfo>,
    done: mpsc::UnboundedSender<String>,
    stop: CancellationToken,
) -> PodWorker {
    let inbox = Arc::new(Inbox::default());
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let name = format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    );
    let mut worker = Worker {
        ctx,
        pod,
        packed: None,
        ip,
        memory: Memories::default(),
        reported: None,
        sandbox_ready: false,
        probes: HashMap::new(),
        inbox: inbox.clone(),
        start_time: Timestamp::now(),
        retry_at: None,
    };
    worker.absorb(adopted, Timestamp::now());
    let span = tracing::info_span!("pod_worker", pod = %name);
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            worker.run(stop).await;
            worker.inbox.close();
            let _ = done.send(uid);
        },
        span,
    ));
    PodWorker { input: inbox }
}

/// What a packed worker's `pod` points to: one shared empty pod.
static EMPTY_POD: std::sync::LazyLock<Arc<Pod>> =
    std::sync::LazyLock::new(|| Arc::new(Pod::default()));

struct Worker {
    ctx: WorkerContext,
    /// The pod; an empty placeholder while it is `packed`.
    pod: Arc<Pod>,
    packed: Option<Box<[u8]>>,
    ip: Ipv4Addr,
    memory: Memories,
    /// A digest of the status last reported (the status itself is in the pod once the
    /// update is seen; tens of thousands of simulated pods should not keep a second copy).
    reported: Option<u64>,
    sandbox_ready: bool,
    /// Probe tasks of the current attempts: (container, kind) → (attempt, stop).
    probes: HashMap<(String, &'static str), (u32, CancellationToken)>,
    /// Where this worker's inputs arrive (probe results are sent here too).
    inbox: Arc<Inbox>,
    start_time: Timestamp,
    retry_at: Option<Timestamp>,
}

fn kind_key(kind: ProbeKind) -> &'static str {
    match kind {
        ProbeKind::Liveness => "liveness",
        ProbeKind::Readiness => "readiness",
        ProbeKind::Startup => "startup",
    }
}

impl Worker {
    fn namespace(&self) -> String {
        self.pod.metadata.namespace.clone().unwrap_or_default()
    }

    fn name(&self) -> String {
        self.pod.metadata.name.clone().unwrap_or_default()
    }

    fn uid(&self) -> String {
        self.pod.metadata.uid.clone().unwrap_or_default()
    }

    fn container_spec(&self, name: &str) -> Option<(Container, bool)> {
        let spec = self.pod.spec.as_ref()?;
        if let Some(c) = spec.containers.iter().find(|c| c.name == name) {
            return Some((c.clone(), false));
        }
        spec.init_containers
            .iter()
            .flatten()
            .find(|c| c.name == name)
            .map(|c| (c.clone(), true))
    }

    async fn run(&mut self, stop: CancellationToken) {
        let inbox = self.inbox.clone();
        let mut gone = false;
        loop {
            let deleting = gone || self.pod.metadata.deletion_timestamp.is_some();
            if deleting {
                // Boxed: the worker idles most of its life, so its future should not carry
                // the size of the request futures it only needs now and then.
                Box::pin(self.terminate(gone)).await;
                return;
            }
            let wake_at = {
                // Bounded: thousands of pods arriving at once should not all be mid-sync
                // (each sync holds its requests' buffers) at the same time.
                let slots = self.ctx.sync_slots.clone();
                let _slot = slots.acquire().await;
                Box::pin(self.sync()).await
            };
            let sleep = wake_at
                .and_then(|at| Duration::try_from(at.duration_since(Timestamp::now())).ok())
                .unwrap_or(Duration::from_secs(3600));
            self.pack();
            tokio::select! {
                _ = stop.cancelled() => {
                    // The agent stops: containers keep running and are adopted next time.
                    self.stop_probes();
                    return;
                }
                // Everything already queued is taken before syncing again.
                inputs = inbox.recv_all() => {
                    // A newer pod replaces the packed one without unpacking it.
                    let newest = inputs.iter().rev().find_map(|i| match i {
                        PodInput::Pod(p) => Some(p.clone()),
                        _ => None,
                    });
                    if let Some(pod) = newest {
                        self.packed = None;
                        self.pod = pod;
                    }
                    self.unpack();
                    for input in inputs {
                        self.apply(input, &mut gone);
                    }
                }
                _ = tokio::time::sleep(sleep) => self.unpack(),
            }
        }
    }

    /// While the worker waits, its pod is kept as JSON, a fraction of the object's size
    /// (k8s-openapi's Pod and Container structs are kilobytes each, mostly empty options).
    fn pack(&mut self) {
        if self.packed.is_some() {
            return;
        }
        match serde_json::to_vec(&*self.pod) {
            Ok(json) => {
                self.packed = Some(json.into_boxed_slice());
                self.pod = EMPTY_POD.clone();
            }
            Err(e) => tracing::warn!(error = %e, "cannot pack the pod; kept as is"),
        }
    }

    fn unpack(&mut self) {
        let Some(json) = self.packed.take() else {
            return;
        };
        match serde_json::from_slice(&json) {
            Ok(pod) => self.pod = Arc::new(pod),
            // Cannot happen (it was serialized from a Pod); the next watch event brings it.
            Err(e) => tracing::error!(error = %e, "cannot unpack the pod"),
        }
    }

    fn apply(&mut self, input: PodInput, gone: &mut bool) {
        match input {
            PodInput::Pod(p) => self.pod = p,
            PodInput::Gone => *gone = true,
            PodInput::Containers(cs) => self.absorb(cs, Timestamp::now()),
            PodInput::Probe(r) => {
                let Some(m) = self.memory.get_mut(&r.container) else {
                    return;
                };
                if m.current.as_ref().map(|c| c.attempt) != Some(r.attempt) {
                    return;
                }
                match r.kind {
                    ProbeKind::Readiness => m.ready = r.ok,
                    ProbeKind::Startup => m.started = r.ok,
                    ProbeKind::Liveness => m.liveness_failed = !r.ok,
                }
                if !r.ok {
                    let what = match r.kind {
                        ProbeKind::Liveness => "Liveness",
                        ProbeKind::Readiness => "Readiness",
                        ProbeKind::Startup => "Startup",
                    };
                    self.event(
                        "Warning",
                        "Unhealthy",
                        format!("{what} probe failed: {}", r.message),
                    );
                }
            }
        }
    }

    /// Fold the runtime's view of this pod's containers into memory.
    fn absorb(&mut self, containers: Vec<ContainerInfo>, now: Timestamp) {
        let mut latest: BTreeMap<String, Vec<ContainerInfo>> = BTreeMap::new();
        for c in containers {
            latest.entry(c.name.clone()).or_default().push(c);
        }
        for (name, mut runs) in latest {
            runs.sort_by_key(|r| r.attempt);
            let Some(newest) = runs.pop() else { continue };
            let before = runs.pop();
            let m = self.memory.entry(&name);
            let was = m.current.clone();
            if was.as_ref().is_some_and(|w| w.attempt > newest.attempt) {
                continue;
            }
            let newly_exited = matches!(newest.state, ContainerState::Exited { .. })
                && !matches!(was.as_ref().map(|w| (&w.attempt, &w.state)), Some((a, ContainerState::Exited { .. })) if *a == newest.attempt);
            if was.as_ref().is_some_and(|w| w.attempt < newest.attempt) {
                m.previous = was.map(|w| w.state);
            } else if was.is_none() {
                m.previous = before.map(|b| b.state);
            }
            m.current = Some(newest.clone());
            if newly_exited
                && let ContainerState::Exited {
                    started_at,
                    finished_at,
                    exit_code,
                    ..
                } = newest.state
            {
                m.ready = false;
                m.started = false;
                let ran =
                    Duration::try_from(finished_at.duration_since(started_at)).unwrap_or_default();
                let policy = self
                    .pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.restart_policy.as_deref())
                    .unwrap_or("Always");
                let restarts = match policy {
                    "Never" => false,
                    "OnFailure" => exit_code != 0,
                    _ => true,
                };
                if restarts {
                    lifecycle::note_failure(m, now, ran);
                }
                self.probes.retain(|(c, _), (_, stop)| {
                    if *c == name {
                        stop.cancel();
                        false
                    } else {
                        true
                    }
                });
            }
        }
    }

    /// Bring containers one step closer to the plan, and report status. Returns when to
    /// look again at the latest.
    async fn sync(&mut self) -> Option<Timestamp> {
        let now = Timestamp::now();
        if !self.sandbox_ready {
            match self.start_sandbox().await {
                Ok(()) => self.sandbox_ready = true,
                Err(message) => {
                    self.event("Warning", "FailedMount", message);
                    return Some(now + Duration::from_secs(5));
                }
            }
        }
        let plan = lifecycle::plan(&self.pod, &self.memory, now);
        for step in plan.steps {
            match step {
                Step::Start {
                    name,
                    attempt,
                    init: _,
                } => self.start(&name, attempt).await,
                Step::Kill { id, name } => {
                    self.event(
                        "Normal",
                        "Killing",
                        format!("Container {name} failed liveness probe, will be restarted"),
                    );
                    if let Some(m) = self.memory.get_mut(&name) {
                        m.liveness_failed = false;
                    }
                    let grace = self.grace();
                    if let Err(e) = self.ctx.runtime.stop_container(&id, grace).await {
                        tracing::warn!(error = %e, "stop container");
                    }
                    if let Ok(all) = self.ctx.runtime.list().await {
                        let uid = self.uid();
                        self.absorb(
                            all.into_iter().filter(|c| c.pod_uid == uid).collect(),
                            Timestamp::now(),
                        );
                    }
                }
            }
        }
        self.ensure_probes();
        let mut wake = self.report().await;
        if let Some(at) = plan.wake_at {
            wake = Some(wake.map_or(at, |w: Timestamp| w.min(at)));
        }
        wake
    }

    fn grace(&self) -> Duration {
        let secs = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30)
            .max(0);
        Duration::from_secs(secs as u64)
    }

    async fn sources(&self) -> Result<Sources, String> {
        let (cms, secrets) = env::referenced(&self.pod);
        let ns = self.namespace();
        let mut out = Sources::default();
        let cm_api: Api<ConfigMap> = Api::namespaced(self.ctx.client.clone(), &ns);
        for name in cms {
            match cm_api.get_opt(&name).await {
                Ok(Some(cm)) => {
                    out.config_maps.insert(name, cm.data.unwrap_or_default());
                }
                Ok(None) => {}
                Err(e) => return Err(format!("get configmap {name}: {e}")),
            }
        }
        let secret_api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &ns);
        for name in secrets {
            match secret_api.get_opt(&name).await {
                Ok(Some(s)) => {
                    let mut data: BTreeMap<String, String> = s
                        .data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                        .collect();
                    data.extend(s.string_data.unwrap_or_default());
                    out.secrets.insert(name, data);
                }
                Ok(None) => {}
                Err(e) => return Err(format!("get secret {name}: {e}")),
            }
        }
        Ok(out)
    }

    async fn start_sandbox(&mut self) -> Result<(), String> {
        let sources = self.sources().await?;
        let mut volumes = Vec::new();
        for v in self
            .pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
        {
            let (data, items, optional, kind) = if let Some(cm) = &v.config_map {
                (
                    sources.config_maps.get(&cm.name),
                    &cm.items,
                    cm.optional,
                    "configmap",
                )
            } else if let Some(s) = &v.secret {
                let name = s.secret_name.clone().unwrap_or_default();
                (sources.secrets.get(&name), &s.items, s.optional, "secret")
            } else {
                volumes.push(VolumeData {
                    name: v.name.clone(),
                    files: BTreeMap::new(),
                });
                continue;
            };
            let files = match (data, items) {
                (Some(data), Some(items)) => items
                    .iter()
                    .filter_map(|i| {
                        data.get(&i.key)
                            .map(|v| (i.path.clone(), v.clone().into_bytes()))
                    })
                    .collect(),
                (Some(data), None) => data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                    .collect(),
                (None, _) if optional == Some(true) => BTreeMap::new(),
                (None, _) => {
                    return Err(format!(
                        "MountVolume.SetUp failed for volume \"{}\" : {kind} not found",
                        v.name
                    ));
                }
            };
            volumes.push(VolumeData {
                name: v.name.clone(),
                files,
            });
        }
        let sandbox = SandboxConfig {
            pod_uid: self.uid(),
            namespace: self.namespace(),
            name: self.name(),
            ip: self.ip,
            volumes,
        };
        let ip = self
            .ctx
            .runtime
            .start_sandbox(&sandbox)
            .await
            .map_err(|e| e.to_string())?;
        self.ip = ip;
        Ok(())
    }

    async fn start(&mut self, name: &str, attempt: u32) {
        let Some((container, _init)) = self.container_spec(name) else {
            return;
        };
        let result = match self.sources().await {
            Err(e) => Err(("CreateContainerConfigError", e)),
            Ok(sources) => {
                match env::environment(
                    &self.pod,
                    &container,
                    &sources,
                    &self.ip.to_string(),
                    &self.ctx.host_ip,
                ) {
                    Err(e) => Err(("CreateContainerConfigError", e.0)),
                    Ok(env) => {
                        let limit = |key: &str| {
                            container
                                .resources
                                .as_ref()
                                .and_then(|r| r.limits.as_ref())
                                .and_then(|l| l.get(key))
                                .map(|q| q.0.clone())
                        };
                        let config = ContainerConfig {
                            pod_uid: self.uid(),
                            name: name.to_string(),
                            attempt,
                            image: container.image.clone().unwrap_or_default(),
                            command: env::command_line(&container, &env),
                            entrypoint: container
                                .command
                                .as_ref()
                                .map(|c| env::expand_all(c, &env)),
                            args: container.args.as_ref().map(|a| env::expand_all(a, &env)),
                            env,
                            working_dir: container.working_dir.clone(),
                            mounts: container
                                .volume_mounts
                                .iter()
                                .flatten()
                                .map(|m| (m.name.clone(), m.mount_path.clone()))
                                .collect(),
                            memory_limit: limit("memory")
                                .and_then(|q| bosun_api::quantity::units(&q)),
                            cpu_limit_milli: limit("cpu")
                                .and_then(|q| bosun_api::quantity::milli(&q)),
                            restart_always: self
                                .pod
                                .spec
                                .as_ref()
                                .and_then(|s| s.restart_policy.as_deref())
                                .is_none_or(|p| p == "Always"),
                        };
                        match self.ctx.runtime.start_container(&config).await {
                            Ok(id) => Ok(id),
                            Err(RuntimeError::CreateContainer { reason, message }) => {
                                Err((reason, message))
                            }
                            Err(e) => Err(("RunContainerError", e.to_string())),
                        }
                    }
                }
            }
        };
        let now = Timestamp::now();
        let m = self.memory.entry(name);
        match result {
            Ok(id) => {
                m.start_error = None;
                if let Some(old) = m.current.take() {
                    m.previous = Some(old.state);
                }
                m.current = Some(ContainerInfo {
                    id,
                    pod_uid: self.pod.metadata.uid.clone().unwrap_or_default(),
                    name: name.to_string(),
                    attempt,
                    state: ContainerState::Running { started_at: now },
                });
                m.ready = false;
                m.started = false;
                m.liveness_failed = false;
                self.event("Normal", "Started", format!("Started container {name}"));
            }
            Err((reason, message)) => {
                m.start_error = Some((reason.to_string(), message.clone()));
                lifecycle::note_failure(m, now, Duration::ZERO);
                self.event("Warning", "Failed", format!("Error: {message}"));
            }
        }
    }

    /// Start probe tasks for running containers that have none for their current attempt;
    /// containers without a probe of a kind count as passing it.
    fn ensure_probes(&mut self) {
        let names: Vec<String> = self.memory.names().cloned().collect();
        for name in names {
            let Some((container, init)) = self.container_spec(&name) else {
                continue;
            };
            let Some(m) = self.memory.get_mut(&name) else {
                continue;
            };
            let Some(cur) = m.current.clone() else {
                continue;
            };
            if !matches!(cur.state, ContainerState::Running { .. }) {
                continue;
            }
            if init {
                continue;
            }
            if container.startup_probe.is_none() {
                m.started = true;
            }
            if container.readiness_probe.is_none() && m.started {
                m.ready = true;
            }
            let started = m.started;
            let probes = [
                (ProbeKind::Startup, container.startup_probe.clone(), true),
                (
                    ProbeKind::Liveness,
                    container.liveness_probe.clone(),
                    started,
                ),
                (
                    ProbeKind::Readiness,
                    container.readiness_probe.clone(),
                    started,
                ),
            ];
            for (kind, probe, due) in probes {
                let (Some(probe), true) = (probe, due) else {
                    continue;
                };
                let key = (name.clone(), kind_key(kind));
                if self
                    .probes
                    .get(&key)
                    .is_some_and(|(a, _)| *a == cur.attempt)
                {
                    continue;
                }
                if kind == ProbeKind::Startup && started {
                    continue;
                }
                let stop = CancellationToken::new();
                if let Some((_, old)) = self.probes.insert(key, (cur.attempt, stop.clone())) {
                    old.cancel();
                }
                let target = ProbeTarget {
                    runtime: self.ctx.runtime.clone(),
                    container_id: cur.id.clone(),
                    pod_ip: self.ip.to_string(),
                };
                let (tx, mut rx) = mpsc::unbounded_channel();
                let forward = self.inbox.clone();
                tokio::spawn(probe::run(
                    kind,
                    probe,
                    container.clone(),
                    cur.attempt,
                    target,
                    tx,
                    stop.clone(),
                ));
                tokio::spawn(async move {
                    while let Some(r) = rx.recv().await {
                        if forward.send(PodInput::Probe(Box::new(r))).is_err() {
                            break;
                        }
                    }
                });
            }
        }
    }

    fn stop_probes(&mut self) {
        for (_, (_, stop)) in self.probes.drain() {
            stop.cancel();
        }
    }

    /// Patch the status when it changed. Returns when to retry after a failure.
    async fn report(&mut self) -> Option<Timestamp> {
        let now = Timestamp::now();
        let status = lifecycle::status(
            &self.pod,
            &self.memory,
            self.ctx.runtime.name(),
            Some(&self.ip.to_string()),
            &self.ctx.host_ip,
            self.start_time,
            now,
        );
        let digest = status_digest(&status);
        if self.reported == Some(digest) && self.retry_at.is_none() {
            return None;
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let patch = serde_json::json!({ "status": status });
        let _slot = self.ctx.api_slots.acquire().await;
        match api
            .patch_status(&self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(mut pod) => {
                // As the watch does.
                lifecycle::trim(&mut pod);
                self.pod = Arc::new(pod);
                self.reported = Some(digest);
                self.retry_at = None;
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "status update failed; will retry");
                let at = now + Duration::from_secs(1);
                self.retry_at = Some(at);
                Some(at)
            }
        }
    }

    /// Stop every container within the grace period, remove the sandbox and, unless the pod is
    /// already gone, complete its deletion.
    async fn terminate(&mut self, gone: bool) {
        self.stop_probes();
        let grace = if gone {
            Duration::from_secs(2)
        } else {
            self.grace()
        };
        let running: Vec<(String, String)> = self
            .memory
            .iter()
            .filter_map(|(n, m)| match &m.current {
                Some(c) if matches!(c.state, ContainerState::Running { .. }) => {
                    Some((n.clone(), c.id.clone()))
                }
                _ => None,
            })
            .collect();
        let stops = running.iter().map(|(name, id)| {
            if !gone {
                self.event("Normal", "Killing", format!("Stopping container {name}"));
            }
            self.ctx.runtime.stop_container(id, grace)
        });
        for r in futures::future::join_all(stops).await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "stop container");
            }
        }
        if let Err(e) = self.ctx.runtime.remove_sandbox(&self.uid()).await {
            tracing::warn!(error = %e, "remove sandbox");
        }
        if gone {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        for attempt in 0..30 {
            match api.delete(&self.name(), &params).await {
                Ok(_) => return,
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => return,
                Err(e) => {
                    tracing::debug!(error = %e, attempt, "complete deletion");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Record an Event about the pod, without waiting for it.
    fn event(&self, type_: &str, reason: &str, message: String) {
        let ns = self.namespace();
        let now = Timestamp::now();
        let pod_name = self.name();
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{pod_name}.")),
                namespace: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(pod_name),
                namespace: Some(ns.clone()),
                uid: self.pod.metadata.uid.clone(),
                ..ObjectReference::default()
            },
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(type_.into()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            source: Some(k8s_openapi::api::core::v1::EventSource {
                component: Some("kubelet".into()),
                host: Some(self.ctx.node_name.clone()),
            }),
            reporting_component: Some("kubelet".into()),
            reporting_instance: Some(self.ctx.node_name.clone()),
            ..Event::default()
        };
        self.ctx.events.record(event);
    }
}

/// A digest of a status, to tell whether it changed since it was last reported.
fn status_digest(status: &PodStatus) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(status).unwrap_or_default().hash(&mut h);
    h.finish()
}
