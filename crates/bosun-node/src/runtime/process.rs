//! The process runtime: each container is a host process (in its own process group), started
//! through a small shim that records the exit code in the container's directory so that an
//! agent restarted later still learns how its containers ended.
//!
//! Layout under the root directory:
//!
//! ```text
//! <pod uid>/rootfs/                    working directory; mountPaths appear here as symlinks
//! <pod uid>/volumes/<volume>/          emptyDir, configMap and secret volumes
//! <pod uid>/containers/<name>-<n>/     one run of a container: spec.json, pid, log, exit
//! ```
//!
//! Pods get their own loopback address (127.x.y.z all reach the host on Linux) so that two
//! pods can listen on the same port; containers learn it from `status.podIP` through the
//! downward API like any pod would.

use super::volumes::{self, write_atomic};
use super::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, ContainerUsage, ExecEvent,
    ExecRequest, ExecSession, ImageInfo, LogOptions, LogStream, ProcTable, Result, RuntimeError,
    SandboxConfig, log_file,
};
use crate::cgroups::{Cgroups, Limits};
use async_trait::async_trait;
use bytes::Bytes;
use k8s_openapi::jiff::Timestamp;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// Where the process runtime keeps pods, and how to start the shim.
#[derive(Debug, Clone)]
pub struct ProcessRuntimeConfig {
    pub root: PathBuf,
    /// The shim command prefix, e.g. `[/usr/bin/bosun, container-shim]`; the runtime appends
    /// `<exit file> -- <command...>`.
    pub shim: Vec<String>,
    /// Rotate a container's log when it grows past this many bytes (one old file is kept).
    pub max_log_bytes: u64,
    /// Put containers in cgroups with their limits, under a base named after this (the node),
    /// where the host allows; `None`: no cgroups.
    pub cgroups: Option<String>,
}

#[derive(Debug)]
pub struct ProcessRuntime {
    config: ProcessRuntimeConfig,
    changed: Arc<Notify>,
    /// Where containers' cgroups go, or why there are none.
    cgroups: Result<Cgroups, String>,
}

/// What is recorded for a container run, so that exec and adoption know it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recorded {
    pod_uid: String,
    name: String,
    attempt: u32,
    pid: i32,
    started_at: String,
    env: Vec<(String, String)>,
    working_dir: PathBuf,
    /// The container's cgroup directories, when it has any.
    #[serde(default)]
    cgroups: Vec<PathBuf>,
}

/// What the shim writes when its child ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub finished_at: String,
    pub signal: Option<i32>,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Runtime(format!("{what} {}: {e}", path.display()))
}

/// A container id: `<pod uid>/<name>-<attempt>`.
fn container_id(pod_uid: &str, name: &str, attempt: u32) -> String {
    format!("{pod_uid}/{name}-{attempt}")
}

impl ProcessRuntime {
    pub fn new(config: ProcessRuntimeConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.root).map_err(|e| io("create", &config.root, e))?;
        let cgroups = match &config.cgroups {
            Some(name) => crate::cgroups::detect(name),
            None => Err("the process runtime was started without cgroups".into()),
        };
        if let Err(reason) = &cgroups {
            tracing::info!(%reason, "container limits are not enforced");
        }
        Ok(Self {
            config,
            changed: Arc::new(Notify::new()),
            cgroups,
        })
    }

    fn pod_dir(&self, pod_uid: &str) -> Result<PathBuf> {
        volumes::pod_dir(&self.config.root, pod_uid)
    }

    /// The log file of a container run.
    pub fn log_path(&self, id: &str) -> Option<PathBuf> {
        Some(self.container_dir(id).ok()?.join("log"))
    }

    fn container_dir(&self, id: &str) -> Result<PathBuf> {
        let (uid, run) = id
            .split_once('/')
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        if run.contains(['/', '.']) || run.is_empty() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Ok(self.pod_dir(uid)?.join("containers").join(run))
    }

    fn read_recorded(dir: &Path) -> Option<Recorded> {
        let text = std::fs::read(dir.join("spec.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn read_exit(dir: &Path) -> Option<ExitRecord> {
        let text = std::fs::read(dir.join("exit")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn state_of(dir: &Path, rec: &Recorded) -> ContainerState {
        let started_at = rec.started_at.parse().unwrap_or(Timestamp::UNIX_EPOCH);
        let mut state = if let Some(exit) = Self::read_exit(dir) {
            exited(&exit, started_at)
        } else if alive(rec.pid) {
            return ContainerState::Running { started_at };
        } else {
            // The shim died without writing (killed with the whole group): a SIGKILL.
            ContainerState::Exited {
                exit_code: 137,
                started_at,
                finished_at: Timestamp::now(),
                reason: "Error".into(),
            }
        };
        if let ContainerState::Exited {
            exit_code: 137,
            reason,
            ..
        } = &mut state
            && Cgroups::oom_killed(&rec.cgroups)
        {
            *reason = "OOMKilled".into();
        }
        state
    }

    fn rotate_logs(&self, dir: &Path) {
        let log = dir.join("log");
        if let Ok(meta) = std::fs::metadata(&log)
            && meta.len() > self.config.max_log_bytes
        {
            // Copy-truncate: the shim keeps its file descriptor open in append mode.
            let _ = std::fs::copy(&log, dir.join("log.1"));
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&log) {
                let _ = f.set_len(0);
            }
        }
    }
}

fn exited(exit: &ExitRecord, started_at: Timestamp) -> ContainerState {
    ContainerState::Exited {
        exit_code: exit.exit_code,
        started_at,
        finished_at: exit.finished_at.parse().unwrap_or(started_at),
        reason: if exit.exit_code == 0 {
            "Completed"
        } else {
            "Error"
        }
        .into(),
    }
}

/// Whether a process exists and is not a zombie.
fn alive(pid: i32) -> bool {
    if pid <= 0 || kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z"),
        Err(_) => false,
    }
}

#[async_trait]
impl ContainerRuntime for ProcessRuntime {
    fn name(&self) -> &'static str {
        "process"
    }

    fn limits_enforced(&self) -> Result<(), String> {
        self.cgroups.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    async fn health(&self) -> Result<()> {
        let probe = self.config.root.join(".health");
        std::fs::write(&probe, b"ok").map_err(|e| io("write", &probe, e))
    }

    async fn start_sandbox(&self, sandbox: &SandboxConfig) -> Result<Ipv4Addr> {
        let dir = self.pod_dir(&sandbox.pod_uid)?;
        for sub in ["rootfs", "containers"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| io("create", &d, e))?;
        }
        volumes::write_volumes(&dir.join("volumes"), &sandbox.volumes)?;
        Ok(sandbox.ip)
    }

    async fn start_container(&self, c: &ContainerConfig) -> Result<String> {
        let Some(program) = c.command.first() else {
            return Err(RuntimeError::CreateContainer {
                reason: "CreateContainerError",
                message: format!(
                    "the process runtime runs a container's command and args; container {:?} (image {:?}) has none",
                    c.name, c.image
                ),
            });
        };
        let pod_dir = self.pod_dir(&c.pod_uid)?;
        let path_env = c
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        if resolve_program(program, &path_env, c.working_dir.as_deref()).is_none() {
            return Err(RuntimeError::CreateContainer {
                reason: "RunContainerError",
                message: format!("exec: {program:?}: executable file not found in $PATH"),
            });
        }
        let rootfs = pod_dir.join("rootfs");
        for (volume, mount_path) in &c.mounts {
            let rel = mount_path.trim_start_matches('/');
            if rel.is_empty() || rel.split('/').any(|p| p == "..") {
                continue;
            }
            let link = rootfs.join(rel);
            if let Some(parent) = link.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
            }
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(pod_dir.join("volumes").join(volume), &link)
                    .map_err(|e| io("link", &link, e))?;
            }
        }
        let id = container_id(&c.pod_uid, &c.name, c.attempt);
        let dir = self.container_dir(&id)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io("remove", &dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
        let working_dir = match &c.working_dir {
            Some(w) if Path::new(w).is_dir() => PathBuf::from(w),
            Some(w) => rootfs.join(w.trim_start_matches('/')),
            None => rootfs.clone(),
        };
        std::fs::create_dir_all(&working_dir).map_err(|e| io("create", &working_dir, e))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))
            .map_err(|e| io("open", &dir.join("log"), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| io("open", &dir.join("log"), e))?;

        let cgroups = match &self.cgroups {
            Ok(cg) => cg
                .create(
                    &c.pod_uid,
                    &format!("{}-{}", c.name, c.attempt),
                    Limits {
                        memory_bytes: c.memory_limit,
                        cpu_milli: c.cpu_limit_milli,
                    },
                )
                .map_err(|e| RuntimeError::CreateContainer {
                    reason: "CreateContainerError",
                    message: format!("cgroup: {e}"),
                })?,
            Err(_) => Vec::new(),
        };
        let (shim, shim_args) = self
            .config
            .shim
            .split_first()
            .ok_or_else(|| RuntimeError::Runtime("no shim configured".into()))?;
        let mut cmd = tokio::process::Command::new(shim);
        cmd.args(shim_args).arg(dir.join("exit"));
        for cg in &cgroups {
            cmd.arg("--cgroup").arg(cg);
        }
        cmd.arg("--")
            .arg(program)
            .args(&c.command[1..])
            .env_clear()
            .envs(host_env())
            .envs(c.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&working_dir)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd
            .spawn()
            .map_err(|e| RuntimeError::Runtime(format!("start shim {shim}: {e}")))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let rec = Recorded {
            pod_uid: c.pod_uid.clone(),
            name: c.name.clone(),
            attempt: c.attempt,
            pid,
            started_at: Timestamp::now().to_string(),
            env: c.env.clone(),
            working_dir,
            cgroups,
        };
        let text = serde_json::to_vec(&rec).map_err(|e| RuntimeError::Runtime(e.to_string()))?;
        write_atomic(&dir.join("spec.json"), &text)?;
        // Reap the shim and tell the agent; an adopted shim is noticed by polling instead.
        let changed = self.changed.clone();
        tokio::spawn(async move {
            let _ = child.wait().await;
            changed.notify_waiters();
        });
        Ok(id)
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let dir = self.container_dir(id)?;
        let Some(rec) = Self::read_recorded(&dir) else {
            return Ok(());
        };
        if Self::read_exit(&dir).is_some() || !alive(rec.pid) {
            return Ok(());
        }
        let group = Pid::from_raw(rec.pid);
        // The shim forwards nothing: the signal reaches the whole group, the shim survives
        // SIGTERM to record the exit.
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if Self::read_exit(&dir).is_some() || !alive(rec.pid) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = killpg(group, Signal::SIGKILL);
        for _ in 0..100 {
            if !alive(rec.pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if Self::read_exit(&dir).is_none() {
            let exit = ExitRecord {
                exit_code: 137,
                finished_at: Timestamp::now().to_string(),
                signal: Some(9),
            };
            let text =
                serde_json::to_vec(&exit).map_err(|e| RuntimeError::Runtime(e.to_string()))?;
            write_atomic(&dir.join("exit"), &text)?;
        }
        self.changed.notify_waiters();
        Ok(())
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<()> {
        let dir = self.pod_dir(pod_uid)?;
        let containers = dir.join("containers");
        if let Ok(entries) = std::fs::read_dir(&containers) {
            for entry in entries.flatten() {
                if let Some(run) = entry.file_name().to_str() {
                    self.stop_container(&format!("{pod_uid}/{run}"), Duration::ZERO)
                        .await?;
                }
            }
        }
        if let Ok(cg) = &self.cgroups {
            // Killed processes leave their cgroups a moment after the signal.
            for _ in 0..40 {
                if cg.remove_pod(pod_uid) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        volumes::remove_pod_dir(&dir)
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>> {
        let mut out = Vec::new();
        let pods = match std::fs::read_dir(&self.config.root) {
            Ok(p) => p,
            Err(e) => return Err(io("read", &self.config.root, e)),
        };
        for pod in pods.flatten() {
            let Ok(runs) = std::fs::read_dir(pod.path().join("containers")) else {
                continue;
            };
            for run in runs.flatten() {
                let dir = run.path();
                let Some(rec) = Self::read_recorded(&dir) else {
                    continue;
                };
                self.rotate_logs(&dir);
                out.push(ContainerInfo {
                    id: container_id(&rec.pod_uid, &rec.name, rec.attempt),
                    state: Self::state_of(&dir, &rec),
                    pod_uid: rec.pod_uid,
                    name: rec.name,
                    attempt: rec.attempt,
                });
            }
        }
        Ok(out)
    }

    async fn exec_stream(&self, id: &str, request: ExecRequest) -> Result<ExecSession> {
        let dir = self.container_dir(id)?;
        let rec = Self::read_recorded(&dir).ok_or_else(|| RuntimeError::NotFound(id.into()))?;
        if !matches!(Self::state_of(&dir, &rec), ContainerState::Running { .. }) {
            return Err(RuntimeError::NotFound(format!("{id} is not running")));
        }
        let (program, args) = request
            .command
            .split_first()
            .ok_or_else(|| RuntimeError::Runtime("empty command".into()))?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(host_env())
            .envs(rec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&rec.working_dir)
            .stdin(if request.stdin {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let (tx, rx) = mpsc::channel(16);
        let stop = CancellationToken::new();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                // As a container runtime reports it: the message, and 127 for a missing program.
                let code = if e.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                };
                let message = format!("exec: {program:?}: {e}\n");
                let _ = tx.try_send(ExecEvent::Stderr(Bytes::from(message)));
                let _ = tx.try_send(ExecEvent::Exit(code));
                return Ok(ExecSession {
                    stdin: None,
                    events: rx,
                    resize: None,
                    _stop: None,
                });
            }
        };
        let stdin = child
            .stdin
            .take()
            .map(|s| Box::pin(s) as std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let task_stop = stop.clone();
        tokio::spawn(async move {
            let pumps = futures::future::join(
                pump(stdout, tx.clone(), ExecEvent::Stdout),
                pump(stderr, tx.clone(), ExecEvent::Stderr),
            );
            let status = tokio::select! {
                _ = task_stop.cancelled() => None,
                (_, _) = pumps => tokio::select! {
                    _ = task_stop.cancelled() => None,
                    status = child.wait() => Some(status),
                },
            };
            let Some(status) = status else {
                let _ = child.kill().await;
                return;
            };
            let code = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    s.code()
                        .or_else(|| s.signal().map(|sig| 128 + sig))
                        .unwrap_or(255)
                }
                Err(_) => 255,
            };
            let _ = tx.send(ExecEvent::Exit(code)).await;
        });
        Ok(ExecSession {
            stdin,
            events: rx,
            resize: None,
            _stop: Some(stop.drop_guard()),
        })
    }

    async fn logs(&self, id: &str, options: LogOptions) -> Result<LogStream> {
        let dir = self.container_dir(id)?;
        let rec = Self::read_recorded(&dir).ok_or_else(|| RuntimeError::NotFound(id.into()))?;
        let running = matches!(Self::state_of(&dir, &rec), ContainerState::Running { .. });
        let follow: Option<log_file::StillRunning> = (options.follow && running).then(|| {
            let dir = dir.clone();
            let still: log_file::StillRunning = Arc::new(move || {
                let dir = dir.clone();
                let rec = rec.clone();
                Box::pin(async move {
                    matches!(
                        ProcessRuntime::state_of(&dir, &rec),
                        ContainerState::Running { .. }
                    )
                })
            });
            still
        });
        Ok(log_file::read(dir.join("log"), options.tail_lines, follow).await)
    }

    async fn images(&self) -> Result<Vec<ImageInfo>> {
        Ok(Vec::new())
    }

    async fn usage(&self, ids: &[String]) -> Result<HashMap<String, ContainerUsage>> {
        let mut runs = Vec::new();
        for id in ids {
            let Ok(dir) = self.container_dir(id) else {
                continue;
            };
            if let Some(rec) = Self::read_recorded(&dir) {
                runs.push((id.clone(), rec));
            }
        }
        let groups: Vec<i32> = runs.iter().map(|(_, r)| r.pid).collect();
        let table = tokio::task::spawn_blocking(move || ProcTable::read(&groups))
            .await
            .map_err(|e| RuntimeError::Runtime(e.to_string()))?;
        Ok(runs
            .into_iter()
            .filter_map(|(id, rec)| table.usage(rec.pid, &rec.cgroups).map(|u| (id, u)))
            .collect())
    }

    async fn changed(&self) {
        let notified = self.changed.notified();
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Forward what a reader yields as events until it ends or nobody listens.
async fn pump<R: tokio::io::AsyncRead + Unpin>(
    reader: Option<R>,
    tx: mpsc::Sender<ExecEvent>,
    wrap: fn(Bytes) -> ExecEvent,
) {
    let Some(mut reader) = reader else { return };
    let mut buf = vec![0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx
                    .send(wrap(Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// What containers inherit from the host: enough to find programs.
fn host_env() -> Vec<(String, String)> {
    ["PATH", "LANG", "TZ"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// Find a program as execvp would: a path with a slash as is, otherwise through `PATH`.
fn resolve_program(program: &str, path_env: &str, working_dir: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = match working_dir {
            Some(w) if !program.starts_with('/') => Path::new(w).join(program),
            _ => PathBuf::from(program),
        };
        // Relative paths are resolved against the working directory the runtime chooses;
        // accept them and let the start fail visibly if they are wrong.
        return (executable(&p) || !program.starts_with('/')).then_some(p);
    }
    path_env
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| executable(p))
}
