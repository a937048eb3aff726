//! The simulated runtime: no processes, only records. Containers run at once; containers of
//! pods that do not restart Always (Jobs) complete with exit code 0 after a set time. One agent
//! process can simulate many nodes with it, as kwok does.

use super::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, ContainerUsage, ExecEvent,
    ExecRequest, ExecSession, ImageInfo, LogOptions, LogStream, Result, RuntimeError,
    SandboxConfig,
};
use async_trait::async_trait;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
struct Record {
    info: ContainerInfo,
    completes_at: Option<Timestamp>,
}

/// Containers by pod uid (a container id is `<pod uid>/<name>-<attempt>`), and when the
/// run-to-completion ones finish: every operation costs the same with 30,000 pods as with one.
#[derive(Debug, Default)]
struct State {
    pods: HashMap<String, Vec<Record>>,
    /// (completion time, container id), soonest first.
    completions: BinaryHeap<Reverse<(Timestamp, String)>>,
}

impl State {
    fn record_mut(&mut self, id: &str) -> Option<&mut Record> {
        let (uid, _) = id.split_once('/')?;
        self.pods.get_mut(uid)?.iter_mut().find(|r| r.info.id == id)
    }

    fn record(&self, id: &str) -> Option<&Record> {
        let (uid, _) = id.split_once('/')?;
        self.pods.get(uid)?.iter().find(|r| r.info.id == id)
    }
}

#[derive(Debug)]
pub struct SimulatedRuntime {
    complete_after: Duration,
    state: Mutex<State>,
    /// A permit is kept when nobody waits, so a change between two `changed` calls is not lost.
    changed: Notify,
}

impl SimulatedRuntime {
    /// `complete_after`: how long a run-to-completion container runs before exiting 0.
    pub fn new(complete_after: Duration) -> Self {
        Self {
            complete_after,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Move containers whose time has come to Exited.
    fn advance(&self, now: Timestamp) {
        let mut state = self.lock();
        while let Some(Reverse((at, _))) = state.completions.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, id))) = state.completions.pop() else {
                break;
            };
            if let Some(rec) = state.record_mut(&id)
                && rec.completes_at == Some(at)
                && let ContainerState::Running { started_at } = rec.info.state
            {
                rec.info.state = ContainerState::Exited {
                    exit_code: 0,
                    started_at,
                    finished_at: at,
                    reason: "Completed".into(),
                };
                rec.completes_at = None;
            }
        }
    }
}

#[async_trait]
impl ContainerRuntime for SimulatedRuntime {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn limits_enforced(&self) -> Result<(), String> {
        Err("the simulated runtime runs no processes".into())
    }

    async fn health(&self) -> Result<()> {
        Ok(())
    }

    async fn start_sandbox(&self, sandbox: &SandboxConfig) -> Result<Ipv4Addr> {
        Ok(sandbox.ip)
    }

    async fn start_container(&self, c: &ContainerConfig) -> Result<String> {
        let id = format!("{}/{}-{}", c.pod_uid, c.name, c.attempt);
        let now = Timestamp::now();
        let completes_at = (!c.restart_always).then(|| {
            now + SignedDuration::try_from(self.complete_after).unwrap_or(SignedDuration::ZERO)
        });
        let record = Record {
            info: ContainerInfo {
                id: id.clone(),
                pod_uid: c.pod_uid.clone(),
                name: c.name.clone(),
                attempt: c.attempt,
                state: ContainerState::Running { started_at: now },
            },
            completes_at,
        };
        let mut state = self.lock();
        if let Some(at) = completes_at {
            state.completions.push(Reverse((at, id.clone())));
        }
        let runs = state
            .pods
            .entry(c.pod_uid.clone())
            .or_insert_with(|| Vec::with_capacity(1));
        runs.retain(|r| r.info.id != id);
        runs.push(record);
        drop(state);
        // A completion sooner than the one `changed` waits for.
        if completes_at.is_some() {
            self.changed.notify_one();
        }
        Ok(id)
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<()> {
        let now = Timestamp::now();
        if let Some(rec) = self.lock().record_mut(id)
            && let ContainerState::Running { started_at } = rec.info.state
        {
            rec.info.state = ContainerState::Exited {
                exit_code: 137,
                started_at,
                finished_at: now,
                reason: "Error".into(),
            };
            rec.completes_at = None;
        }
        // No notification: the caller stopped it and knows (with 30,000 pods being deleted,
        // each notification would make the agent list every container again).
        Ok(())
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<()> {
        self.lock().pods.remove(pod_uid);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>> {
        self.advance(Timestamp::now());
        Ok(self
            .lock()
            .pods
            .values()
            .flatten()
            .map(|r| r.info.clone())
            .collect())
    }

    async fn exec_stream(&self, id: &str, _request: ExecRequest) -> Result<ExecSession> {
        match self.lock().record(id).map(|r| &r.info.state) {
            Some(ContainerState::Running { .. }) => {
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                let _ = tx.try_send(ExecEvent::Exit(0));
                Ok(ExecSession {
                    stdin: None,
                    events: rx,
                    resize: None,
                    _stop: None,
                })
            }
            _ => Err(RuntimeError::NotFound(id.to_string())),
        }
    }

    async fn logs(&self, id: &str, _options: LogOptions) -> Result<LogStream> {
        if self.lock().record(id).is_none() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Ok(Box::pin(futures::stream::empty()))
    }

    async fn images(&self) -> Result<Vec<ImageInfo>> {
        Ok(Vec::new())
    }

    /// Synthetic and deterministic: each running container uses 1m of CPU (so its CPU time is
    /// a millisecond per second it has run) and 4 MiB of memory.
    async fn usage(&self, ids: &[String]) -> Result<HashMap<String, ContainerUsage>> {
        let now = Timestamp::now();
        let containers = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| match containers.record(id).map(|r| &r.info.state) {
                Some(ContainerState::Running { started_at }) => {
                    let ran = now.duration_since(*started_at).as_nanos().max(0);
                    let cpu = u64::try_from(ran / 1000).unwrap_or(u64::MAX);
                    Some((
                        id.clone(),
                        ContainerUsage {
                            cpu_core_nanoseconds: cpu,
                            memory_usage_bytes: 4 << 20,
                            memory_working_set_bytes: 4 << 20,
                        },
                    ))
                }
                _ => None,
            })
            .collect())
    }

    async fn changed(&self) {
        // Completions are timed; anything else (a stop) notifies.
        let next = self.lock().completions.peek().map(|Reverse((at, _))| *at);
        let notified = self.changed.notified();
        match next {
            None => notified.await,
            Some(at) => {
                let wait = Duration::try_from(at.duration_since(Timestamp::now()))
                    .unwrap_or(Duration::ZERO);
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}
