//! The container runtime boundary: what the agent asks of whatever runs containers. Every
//! runtime passes the same conformance suite (`tests/runtime_conformance.rs`).

pub mod process;
pub mod simulated;

use async_trait::async_trait;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

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
    pub command: Vec<String>,
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
    /// Whether cpu/memory limits are enforced (the Node says so).
    fn enforces_limits(&self) -> bool;
    /// Is the runtime healthy? A failure turns the Node NotReady.
    async fn health(&self) -> Result<()>;
    /// Create the pod's sandbox: directories and volumes, the network identity.
    async fn start_sandbox(&self, sandbox: &SandboxConfig) -> Result<()>;
    /// Start one container in a started sandbox. Returns its id.
    async fn start_container(&self, container: &ContainerConfig) -> Result<String>;
    /// Stop a container: SIGTERM, then SIGKILL after `grace`.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()>;
    /// Remove the sandbox and every container of the pod (stopping any still running).
    async fn remove_sandbox(&self, pod_uid: &str) -> Result<()>;
    /// Every container the runtime has, running or exited.
    async fn list(&self) -> Result<Vec<ContainerInfo>>;
    /// Run a command in a running container, with a deadline.
    async fn exec(&self, id: &str, command: &[String], timeout: Duration) -> Result<ExecOutput>;
    /// The container's log file, when it has one on this host.
    fn log_path(&self, id: &str) -> Option<PathBuf>;
    /// Images present.
    async fn images(&self) -> Result<Vec<ImageInfo>>;
    /// Resolves when any container may have changed state (an exit); runtimes without
    /// notifications resolve after a poll interval.
    async fn changed(&self);
}
