//! The container runtime boundary: what the agent asks of whatever runs containers. Every
//! runtime passes the same conformance suite (`tests/runtime_conformance.rs`).

pub mod docker;
pub mod log_file;
pub mod process;
pub mod simulated;
pub mod usage;
pub mod volumes;

use async_trait::async_trait;
use bytes::Bytes;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::DropGuard;
pub use usage::ProcTable;

/// Errors of a runtime. `reason` strings follow the kubelet's waiting reasons.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The container could not be created (bad spec for this runtime, missing image).
    #[error("{message}")]
    CreateContainer {
        reason: &'static str,
        message: String,
    },
    /// The runtime itself failed (I/O, the engine is down); the node reports NotReady.
    #[error("runtime failure: {0}")]
    Runtime(String),
    /// No such container.
    #[error("container {0} not found")]
    NotFound(String),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A volume as the runtime sees it: a name and a host directory with its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeData {
    pub name: String,
    /// Files to write (configMap and secret volumes); empty for emptyDir.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// What a pod's sandbox needs: identity, address and volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub volumes: Vec<VolumeData>,
}

/// One container to start: everything already resolved (env values, `$(VAR)` expansion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    pub pod_uid: String,
    pub name: String,
    /// Restart attempt, 0 for the first run; part of the container's identity.
    pub attempt: u32,
    pub image: String,
    /// The whole command line (`command` then `args`, expanded): what the process runtime runs.
    pub command: Vec<String>,
    /// The spec's `command` (replaces an image's entrypoint) and `args` (replace its cmd),
    /// expanded; `None` when the spec leaves them to the image.
    pub entrypoint: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    /// (volume name, path inside the container) — the process runtime exposes the volume's
    /// host directory through an environment variable and a symlink where it can.
    pub mounts: Vec<(String, String)>,
    /// Memory limit in bytes and CPU limit in millicores, when set.
    pub memory_limit: Option<i64>,
    pub cpu_limit_milli: Option<i64>,
    /// The pod's restartPolicy is Always (the simulated runtime completes other containers).
    pub restart_always: bool,
}

/// A container's state as the runtime knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running {
        started_at: Timestamp,
    },
    Exited {
        exit_code: i32,
        started_at: Timestamp,
        finished_at: Timestamp,
        reason: String,
    },
}

/// A container the runtime has, for status and adoption after an agent restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub pod_uid: String,
    pub name: String,
    pub attempt: u32,
    pub state: ContainerState,
}

/// Output of a command run inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// What to run in a container for `kubectl exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    pub command: Vec<String>,
    /// Whether the caller sends stdin.
    pub stdin: bool,
    /// Whether the command gets a terminal (output then comes on stdout only).
    pub tty: bool,
}

/// What an exec session reports, in order; `Exit` comes last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    Stdout(Bytes),
    Stderr(Bytes),
    Exit(i32),
}

/// A terminal size, for sessions with a TTY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    pub width: u16,
    pub height: u16,
}

/// A running exec session. Dropping it ends the session (the process runtime kills the
/// command).
pub struct ExecSession {
    /// The command's stdin, when asked for; shut it down to send EOF.
    pub stdin: Option<Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    pub events: mpsc::Receiver<ExecEvent>,
    /// Terminal resizes, when the runtime honours them.
    pub resize: Option<mpsc::UnboundedSender<TerminalSize>>,
    pub _stop: Option<DropGuard>,
}

impl std::fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecSession")
            .field("stdin", &self.stdin.is_some())
            .finish_non_exhaustive()
    }
}

/// How to read a container's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming what the container writes until it ends.
    pub follow: bool,
    /// Only the last lines.
    pub tail_lines: Option<usize>,
}

/// A container's log as a stream of chunks.
pub type LogStream = Pin<Box<dyn futures::Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A running container's resource usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerUsage {
    /// CPU time used since the container started.
    pub cpu_core_nanoseconds: u64,
    pub memory_usage_bytes: u64,
    /// Memory that cannot be reclaimed under pressure (the usage less inactive file pages).
    pub memory_working_set_bytes: u64,
}

/// An image the runtime has, for `status.images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub names: Vec<String>,
    pub size_bytes: i64,
}

/// What runs containers. Methods are idempotent where they can be: starting a sandbox twice
/// or stopping a stopped container is not an error.
#[async_trait]
pub trait ContainerRuntime: Send + Sync + std::fmt::Debug + 'static {
    /// "process", "docker" or "simulated".
    fn name(&self) -> &'static str;
    /// Whether cpu/memory limits are enforced, or why not (the Node says so).
    fn limits_enforced(&self) -> Result<(), String>;
    /// Is the runtime healthy? A failure turns the Node NotReady.
    async fn health(&self) -> Result<()>;
    /// Create the pod's sandbox: directories and volumes, the network identity. Returns the
    /// pod's address: the one asked for, or the one the runtime's network gave it.
    async fn start_sandbox(&self, sandbox: &SandboxConfig) -> Result<Ipv4Addr>;
    /// Start one container in a started sandbox. Returns its id.
    async fn start_container(&self, container: &ContainerConfig) -> Result<String>;
    /// Stop a container: SIGTERM, then SIGKILL after `grace`.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()>;
    /// Remove the sandbox and every container of the pod (stopping any still running).
    async fn remove_sandbox(&self, pod_uid: &str) -> Result<()>;
    /// Every container the runtime has, running or exited.
    async fn list(&self) -> Result<Vec<ContainerInfo>>;
    /// Start a command in a running container, streaming its input and output.
    async fn exec_stream(&self, id: &str, request: ExecRequest) -> Result<ExecSession>;
    /// Run a command in a running container to its end, with a deadline (probes). A command
    /// still running at the deadline reports exit code -1.
    async fn exec(&self, id: &str, command: &[String], timeout: Duration) -> Result<ExecOutput> {
        let mut session = self
            .exec_stream(
                id,
                ExecRequest {
                    command: command.to_vec(),
                    stdin: false,
                    tty: false,
                },
            )
            .await?;
        let mut out = ExecOutput {
            exit_code: -1,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        let collect = async {
            while let Some(event) = session.events.recv().await {
                match event {
                    ExecEvent::Stdout(b) => out.stdout.extend_from_slice(&b),
                    ExecEvent::Stderr(b) => out.stderr.extend_from_slice(&b),
                    ExecEvent::Exit(code) => return Some(code),
                }
            }
            None
        };
        match tokio::time::timeout(timeout, collect).await {
            Ok(Some(code)) => out.exit_code = code,
            Ok(None) => {}
            Err(_) => out
                .stderr
                .extend_from_slice(format!("command timed out after {timeout:?}").as_bytes()),
        }
        Ok(out)
    }
    /// The container's log (stdout and stderr as written).
    async fn logs(&self, id: &str, options: LogOptions) -> Result<LogStream>;
    /// Images present.
    async fn images(&self) -> Result<Vec<ImageInfo>>;
    /// The usage of these running containers (ids the runtime no longer runs are left out).
    async fn usage(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, ContainerUsage>>;
    /// Resolves when any container may have changed state (an exit); runtimes without
    /// notifications resolve after a poll interval. A stop asked through `stop_container` need
    /// not be reported: its caller knows.
    async fn changed(&self);
}
