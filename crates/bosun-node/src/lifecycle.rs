//! A pod's lifecycle as the kubelet runs it, as pure decisions: which container to start or
//! kill next, when to look again, and the pod status to report. The pod worker
//! ([`crate::pod_worker`]) feeds it the runtime's containers and probe results and performs
//! what it returns.

use crate::runtime::{ContainerInfo, ContainerState};
use k8s_openapi::api::core::v1::{
    Container, ContainerState as KContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// The first back-off after a container fails, and its cap (the kubelet's values).
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long before exiting resets its back-off.
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// What the worker remembers about one container across attempts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerMemory {
    /// The latest attempt the runtime has for this container.
    pub current: Option<ContainerInfo>,
    /// The state of the attempt before it, for `lastState`.
    pub previous: Option<ContainerState>,
    /// Why the last start failed (reason, message); cleared by a successful start.
    pub start_error: Option<(String, String)>,
    /// How many failed starts (including start errors) the back-off has counted.
    pub failures: u32,
    /// No start before this time.
    pub backoff_until: Option<Timestamp>,
    /// Probe results for the current attempt.
    pub ready: bool,
    pub started: bool,
    /// The liveness probe failed for the current attempt: kill it.
    pub liveness_failed: bool,
}

impl ContainerMemory {
    /// The restart count Kubernetes reports: the attempt number of the latest run.
    pub fn restart_count(&self) -> i32 {
        self.current.as_ref().map_or(0, |c| c.attempt as i32)
    }

    fn next_attempt(&self) -> u32 {
        self.current.as_ref().map_or(0, |c| c.attempt + 1)
    }

    fn is_running(&self) -> bool {
        matches!(
            self.current.as_ref().map(|c| &c.state),
            Some(ContainerState::Running { .. })
        )
    }

    fn exit_code(&self) -> Option<i32> {
        match self.current.as_ref().map(|c| &c.state) {
            Some(ContainerState::Exited { exit_code, .. }) => Some(*exit_code),
            _ => None,
        }
    }
}

/// Keep of a pod only what the agent reads, in allocations no larger than their contents: a
/// simulating agent holds one pod object per pod, 30,000 of them. Kept: metadata naming the
/// pod and its deletion (labels and annotations only when the downward API reads them), the
/// spec less what only the scheduler reads, and of the status what [`status`] carries over
/// (phase, conditions, start time, QoS class) and the pod IP (adoption). The decisions are
/// the same on a trimmed pod (tested).
pub fn trim(pod: &mut Pod) {
    fn shrink<T>(v: &mut Option<Vec<T>>) {
        if let Some(v) = v {
            v.shrink_to_fit();
        }
    }
    let meta = &mut pod.metadata;
    meta.managed_fields = None;
    meta.owner_references = None;
    meta.finalizers = None;
    let reads = |prefix: &str| {
        pod.spec.iter().any(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
                .flat_map(|c| c.env.iter().flatten())
                .filter_map(|e| e.value_from.as_ref()?.field_ref.as_ref())
                .any(|f| f.field_path.starts_with(prefix))
        })
    };
    let (labels, annotations) = (reads("metadata.labels"), reads("metadata.annotations"));
    let meta = &mut pod.metadata;
    if !labels {
        meta.labels = None;
    }
    if !annotations {
        meta.annotations = None;
    }
    if let Some(spec) = &mut pod.spec {
        spec.affinity = None;
        spec.tolerations = None;
        spec.topology_spread_constraints = None;
        spec.node_selector = None;
        spec.scheduler_name = None;
        spec.scheduling_gates = None;
        spec.priority_class_name = None;
        spec.overhead = None;
        spec.readiness_gates = None;
        spec.containers.shrink_to_fit();
        shrink(&mut spec.init_containers);
        shrink(&mut spec.volumes);
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            shrink(&mut c.command);
            shrink(&mut c.args);
            shrink(&mut c.env);
            shrink(&mut c.env_from);
            shrink(&mut c.ports);
            shrink(&mut c.volume_mounts);
            c.resize_policy = None;
            c.termination_message_path = None;
            c.termination_message_policy = None;
            c.image_pull_policy = None;
        }
    }
    if let Some(status) = pod.status.take() {
        let mut conditions = status.conditions;
        shrink(&mut conditions);
        pod.status = Some(PodStatus {
            phase: status.phase,
            conditions,
            start_time: status.start_time,
            qos_class: status.qos_class,
            pod_ip: status.pod_ip,
            ..PodStatus::default()
        });
    }
}

/// What the worker remembers, per container name. A short list: a pod has a few containers,
/// and a map's smallest allocation (a B-tree leaf of eleven entries) would cost every one of
/// a simulating agent's 30,000 pods kilobytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memories(Vec<(String, ContainerMemory)>);

impl Memories {
    pub fn get(&self, name: &str) -> Option<&ContainerMemory> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut ContainerMemory> {
        self.0.iter_mut().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    /// The container's memory, empty the first time.
    pub fn entry(&mut self, name: &str) -> &mut ContainerMemory {
        let at = match self.0.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                self.0.reserve_exact(1);
                self.0.push((name.to_string(), ContainerMemory::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &ContainerMemory)> {
        self.0.iter().map(|(n, m)| (n, m))
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(n, _)| n)
    }
}

impl FromIterator<(String, ContainerMemory)> for Memories {
    fn from_iter<I: IntoIterator<Item = (String, ContainerMemory)>>(iter: I) -> Self {
        let mut out = Self::default();
        for (name, m) in iter {
            *out.entry(&name) = m;
        }
        out
    }
}

/// The next back-off after a failure that follows `failures` earlier ones: 10 s doubling to 5 min.
pub fn backoff_for(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    (BACKOFF_INITIAL * (1u32 << shift)).min(BACKOFF_MAX)
}

/// One step for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start this container with this attempt number.
    Start {
        name: String,
        attempt: u32,
        init: bool,
    },
    /// Kill the current run of this container (liveness failed).
    Kill { id: String, name: String },
}

/// The decision for one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Look again then even if nothing happens (a back-off ends).
    pub wake_at: Option<Timestamp>,
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

fn init_containers(pod: &Pod) -> &[Container] {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or(&[])
}

fn containers(pod: &Pod) -> &[Container] {
    pod.spec.as_ref().map_or(&[], |s| s.containers.as_slice())
}

/// Where the init containers stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitProgress {
    Done,
    Running,
    Failed,
}

fn init_progress(pod: &Pod, memory: &Memories) -> InitProgress {
    let policy = restart_policy(pod);
    for c in init_containers(pod) {
        let m = memory.get(&c.name);
        match m.and_then(ContainerMemory::exit_code) {
            Some(0) => continue,
            // Init containers restart on failure unless the pod never restarts.
            Some(_) if policy == "Never" => return InitProgress::Failed,
            _ => return InitProgress::Running,
        }
    }
    InitProgress::Done
}

/// A start is allowed now, or the time it will be.
fn start_gate(m: Option<&ContainerMemory>, now: Timestamp) -> Result<(), Timestamp> {
    match m.and_then(|m| m.backoff_until) {
        Some(until) if until > now => Err(until),
        _ => Ok(()),
    }
}

/// Decide the next steps for a pod that is not being deleted.
pub fn plan(pod: &Pod, memory: &Memories, now: Timestamp) -> Plan {
    let mut out = Plan::default();
    let policy = restart_policy(pod);
    let wake = |out: &mut Plan, at: Timestamp| {
        out.wake_at = Some(out.wake_at.map_or(at, |w| w.min(at)));
    };
    match init_progress(pod, memory) {
        InitProgress::Failed => return out,
        InitProgress::Running => {
            // The first init container that has not succeeded is the one to (re)start.
            for c in init_containers(pod) {
                let m = memory.get(&c.name);
                if m.and_then(ContainerMemory::exit_code) == Some(0) {
                    continue;
                }
                if m.is_some_and(ContainerMemory::is_running) {
                    break;
                }
                match start_gate(m, now) {
                    Ok(()) => out.steps.push(Step::Start {
                        name: c.name.clone(),
                        attempt: m.map_or(0, ContainerMemory::next_attempt),
                        init: true,
                    }),
                    Err(until) => wake(&mut out, until),
                }
                break;
            }
            return out;
        }
        InitProgress::Done => {}
    }
    for c in containers(pod) {
        let m = memory.get(&c.name);
        let start = match m {
            None => true,
            Some(m) if m.is_running() => {
                if m.liveness_failed
                    && let Some(cur) = &m.current
                {
                    out.steps.push(Step::Kill {
                        id: cur.id.clone(),
                        name: c.name.clone(),
                    });
                }
                false
            }
            Some(m) => match m.exit_code() {
                Some(code) => should_restart(policy, code),
                // Never started (a start error): try again after the back-off.
                None => m.start_error.is_some() || m.current.is_none(),
            },
        };
        if start {
            match start_gate(m, now) {
                Ok(()) => out.steps.push(Step::Start {
                    name: c.name.clone(),
                    attempt: m.map_or(0, ContainerMemory::next_attempt),
                    init: false,
                }),
                Err(until) => wake(&mut out, until),
            }
        }
    }
    out
}

/// Record that a run ended or a start failed, and set the back-off for the next start.
/// `ran_for` is how long the run lasted (zero for a start error).
pub fn note_failure(m: &mut ContainerMemory, now: Timestamp, ran_for: Duration) {
    if ran_for >= BACKOFF_RESET {
        m.failures = 0;
    }
    m.failures += 1;
    // The first restart is immediate, as the kubelet's; later ones back off.
    if m.failures > 1 {
        let wait = backoff_for(m.failures - 1);
        m.backoff_until =
            Some(now + SignedDuration::try_from(wait).unwrap_or(SignedDuration::ZERO));
    }
}

/// The back-off still to wait, for the CrashLoopBackOff message.
fn backoff_remaining(m: &ContainerMemory, now: Timestamp) -> Option<Duration> {
    let until = m.backoff_until?;
    (until > now).then(|| backoff_for(m.failures.saturating_sub(1)))
}

fn kube_state(state: &ContainerState, id: &str, runtime: &str) -> KContainerState {
    match state {
        ContainerState::Running { started_at } => KContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(*started_at)),
            }),
            ..KContainerState::default()
        },
        ContainerState::Exited {
            exit_code,
            started_at,
            finished_at,
            reason,
        } => KContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: *exit_code,
                reason: Some(reason.clone()),
                started_at: Some(Time(*started_at)),
                finished_at: Some(Time(*finished_at)),
                container_id: Some(format!("{runtime}://{id}")),
                ..ContainerStateTerminated::default()
            }),
            ..KContainerState::default()
        },
    }
}

fn waiting(reason: &str, message: Option<String>) -> KContainerState {
    KContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message,
        }),
        ..KContainerState::default()
    }
}

/// One container's status.
fn container_status(
    pod: &Pod,
    c: &Container,
    m: Option<&ContainerMemory>,
    runtime: &str,
    now: Timestamp,
    will_restart: bool,
) -> ContainerStatus {
    let pod_key = format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or(""),
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.uid.as_deref().unwrap_or("")
    );
    let mut status = ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: String::new(),
        ..ContainerStatus::default()
    };
    let Some(m) = m else {
        status.state = Some(waiting("ContainerCreating", None));
        status.started = Some(false);
        return status;
    };
    status.restart_count = m.restart_count();
    status.last_state = m.previous.as_ref().map(|p| {
        let id = m.current.as_ref().map_or(String::new(), |c| c.id.clone());
        kube_state(p, &id, runtime)
    });
    if let Some(cur) = &m.current {
        status.container_id = Some(format!("{runtime}://{}", cur.id));
    }
    let in_backoff = backoff_remaining(m, now);
    status.state = Some(match (&m.current, &m.start_error) {
        (Some(cur), _) if matches!(cur.state, ContainerState::Running { .. }) => {
            status.ready = m.ready;
            status.started = Some(m.started);
            kube_state(&cur.state, &cur.id, runtime)
        }
        (_, Some((reason, message))) if in_backoff.is_none() => {
            waiting(reason, Some(message.clone()))
        }
        // An image that could not be pulled waits in ImagePullBackOff, with no last state.
        (_, Some((reason, message))) if reason == "ErrImagePull" => waiting(
            "ImagePullBackOff",
            Some(format!(
                "Back-off pulling image \"{}\": ErrImagePull: {message}",
                c.image.as_deref().unwrap_or_default()
            )),
        ),
        (Some(cur), _) if !will_restart => kube_state(&cur.state, &cur.id, runtime),
        (cur, err) => {
            match (cur, err) {
                // The exited run is the last state while the next one waits.
                (Some(cur), None) => {
                    status.last_state = Some(kube_state(&cur.state, &cur.id, runtime));
                }
                // A failed start is reported as the kubelet does: terminated with StartError.
                (_, Some((_, message))) => {
                    status.last_state = Some(KContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: 128,
                            reason: Some("StartError".into()),
                            message: Some(message.clone()),
                            ..ContainerStateTerminated::default()
                        }),
                        ..KContainerState::default()
                    });
                }
                (None, None) => {}
            }
            match in_backoff {
                Some(wait) => waiting(
                    "CrashLoopBackOff",
                    Some(format!(
                        "back-off {} restarting failed container={} pod={pod_key}",
                        human(wait),
                        c.name
                    )),
                ),
                None => waiting("ContainerCreating", None),
            }
        }
    });
    if status.started.is_none() {
        status.started = Some(false);
    }
    status
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m0s", s / 60)
    } else if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn condition(
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    old: &[PodCondition],
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    // Keep the transition time while the status stays the same.
    let since = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.map(str::to_string),
        last_transition_time: Some(since),
        ..PodCondition::default()
    }
}

/// The pod status to report: phase, conditions, container statuses. `pod_ip` and `host_ip`
/// are the addresses the agent gave the pod and has.
pub fn status(
    pod: &Pod,
    memory: &Memories,
    runtime: &str,
    pod_ip: Option<&str>,
    host_ip: &str,
    start_time: Timestamp,
    now: Timestamp,
) -> PodStatus {
    let policy = restart_policy(pod);
    let old = pod.status.clone().unwrap_or_default();
    let old_conditions = old.conditions.clone().unwrap_or_default();
    let init = init_progress(pod, memory);

    let will_restart = |m: Option<&ContainerMemory>| {
        m.and_then(ContainerMemory::exit_code)
            .is_none_or(|code| should_restart(policy, code))
    };
    let init_statuses: Vec<ContainerStatus> = init_containers(pod)
        .iter()
        .map(|c| {
            let m = memory.get(&c.name);
            let restart = m
                .and_then(ContainerMemory::exit_code)
                .is_none_or(|code| code != 0 && policy != "Never");
            container_status(pod, c, m, runtime, now, restart)
        })
        .collect();
    let statuses: Vec<ContainerStatus> = containers(pod)
        .iter()
        .map(|c| {
            let m = memory.get(&c.name);
            container_status(
                pod,
                c,
                m,
                runtime,
                now,
                init == InitProgress::Done && will_restart(m),
            )
        })
        .collect();

    let mains: Vec<Option<&ContainerMemory>> = containers(pod)
        .iter()
        .map(|c| memory.get(&c.name))
        .collect();
    let all_terminal = !mains.is_empty()
        && mains.iter().all(|m| {
            m.and_then(ContainerMemory::exit_code)
                .is_some_and(|code| !should_restart(policy, code))
        });
    let phase = if init == InitProgress::Failed {
        "Failed"
    } else if all_terminal {
        if mains
            .iter()
            .all(|m| m.and_then(ContainerMemory::exit_code) == Some(0))
        {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if init == InitProgress::Done
        && mains.iter().all(|m| m.is_some_and(|m| m.current.is_some()))
    {
        "Running"
    } else {
        "Pending"
    };
    let containers_ready =
        init == InitProgress::Done && !statuses.is_empty() && statuses.iter().all(|s| s.ready);
    let finished = matches!(phase, "Succeeded" | "Failed");
    let mut conditions = vec![
        condition(
            "PodReadyToStartContainers",
            pod_ip.is_some(),
            None,
            &old_conditions,
            now,
        ),
        condition(
            "Initialized",
            init == InitProgress::Done || finished,
            (init != InitProgress::Done && !finished).then_some("ContainersNotInitialized"),
            &old_conditions,
            now,
        ),
        condition(
            "Ready",
            containers_ready && !finished,
            (!containers_ready || finished).then_some(if finished {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
            &old_conditions,
            now,
        ),
        condition(
            "ContainersReady",
            containers_ready && !finished,
            (!containers_ready || finished).then_some(if finished {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
            &old_conditions,
            now,
        ),
    ];
    // The scheduler's condition is kept as it is.
    if let Some(scheduled) = old_conditions.iter().find(|c| c.type_ == "PodScheduled") {
        conditions.push(scheduled.clone());
    }
    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        container_statuses: Some(statuses),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        host_ip: Some(host_ip.to_string()),
        host_ips: Some(vec![k8s_openapi::api::core::v1::HostIP {
            ip: host_ip.to_string(),
        }]),
        pod_ip: pod_ip.map(str::to_string),
        pod_ips: pod_ip.map(|ip| vec![k8s_openapi::api::core::v1::PodIP { ip: ip.to_string() }]),
        start_time: Some(old.start_time.unwrap_or(Time(start_time))),
        qos_class: old.qos_class.or_else(|| Some(qos_class(pod).to_string())),
        ..PodStatus::default()
    }
}

/// BestEffort without requests or limits, Guaranteed when every container's limits equal
/// its requests for cpu and memory, Burstable otherwise.
pub fn qos_class(pod: &Pod) -> &'static str {
    let cs = containers(pod);
    let mut any = false;
    let mut guaranteed = !cs.is_empty();
    for c in cs {
        let r = c.resources.clone().unwrap_or_default();
        let req = r.requests.unwrap_or_default();
        let lim = r.limits.unwrap_or_default();
        any |= !req.is_empty() || !lim.is_empty();
        for key in ["cpu", "memory"] {
            let l = lim.get(key);
            let q = req.get(key).or(l);
            if l.is_none() || q != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests;
