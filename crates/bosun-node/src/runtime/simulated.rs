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
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
struct Record {
    info: ContainerInfo,
    completes_at: Option<Timestamp>,
}

#[derive(Debug)]
pub struct SimulatedRuntime {
    complete_after: Duration,
    containers: Mutex<HashMap<String, Record>>,
    changed: Notify,
}

impl SimulatedRuntime {
    /// `complete_after`: how long a run-to-completion container runs before exiting 0.
    pub fn new(complete_after: Duration) -> Self {
        Self {
            complete_after,
            containers: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Move containers whose time has come to Exited.
    fn advance(&self, now: Timestamp) {
        for rec in self.lock().values_mut() {
            if let (Some(at), ContainerState::Running { started_at }) =
                (rec.completes_at, &rec.info.state)
                && at <= now
            {
                rec.info.state = ContainerState::Exited {
                    exit_code: 0,
                    started_at: *started_at,
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
        self.lock().insert(
            id.clone(),
            Record {
                info: ContainerInfo {
                    id: id.clone(),
                    pod_uid: c.pod_uid.clone(),
                    name: c.name.clone(),
                    attempt: c.attempt,
                    state: ContainerState::Running { started_at: now },
                },
                completes_at,
            },
        );
        Ok(id)
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<()> {
        let now = Timestamp::now();
        if let Some(rec) = self.lock().get_mut(id)
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
        self.changed.notify_waiters();
        Ok(())
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<()> {
        self.lock().retain(|_, r| r.info.pod_uid != pod_uid);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>> {
        self.advance(Timestamp::now());
        Ok(self.lock().values().map(|r| r.info.clone()).collect())
    }

    async fn exec_stream(&self, id: &str, _request: ExecRequest) -> Result<ExecSession> {
        match self.lock().get(id).map(|r| &r.info.state) {
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
        if !self.lock().contains_key(id) {
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
            .filter_map(|id| match containers.get(id).map(|r| &r.info.state) {
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
        let next = self.lock().values().filter_map(|r| r.completes_at).min();
        let wait = next.map_or(Duration::from_secs(1), |at| {
            Duration::try_from(at.duration_since(Timestamp::now()))
                .unwrap_or(Duration::ZERO)
                .min(Duration::from_secs(1))
        });
        tokio::select! {
            _ = self.changed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
