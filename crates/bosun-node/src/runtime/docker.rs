//! The Docker runtime: pods as Docker containers, through the Docker Engine API (bollard).
//!
//! Each pod has a sandbox container (the "pause" container: a long sleep in the configured
//! pod infra image) that owns the pod's network namespace; the pod's containers join it with
//! `network_mode: container:<sandbox id>`, so they share one address and `localhost`. The
//! pod's address is the sandbox's address on the configured Docker network (the default
//! bridge unless told otherwise).
//!
//! Labels tie every container to its pod (uid, namespace, name), its container name and its
//! attempt, and to the node that runs it (`bosun.dev/node`), so an agent restarted later adopts
//! what is running and two agents on one Docker engine never touch each other's containers.
//! Volumes are directories under `<root>/<pod uid>/volumes/`, bind mounted at their
//! mountPaths. Images present locally are used as they are; an absent one is pulled, and a
//! failed pull is the container's `ErrImagePull`.

use super::volumes;
use super::{
    ContainerConfig, ContainerInfo, ContainerRuntime, ContainerState, ContainerUsage, ExecEvent,
    ExecRequest, ExecSession, ImageInfo, LogOptions, LogStream, Result, RuntimeError,
    SandboxConfig, TerminalSize,
};
use async_trait::async_trait;
pub use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    ResizeExecOptionsBuilder, StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use bytes::Bytes;
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// The label naming the node (agent) a container belongs to.
pub const LABEL_NODE: &str = "bosun.dev/node";
/// The labels the kubelet's Docker integration used, kept for familiarity.
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";
pub const LABEL_ATTEMPT: &str = "io.kubernetes.container.restartCount";
pub const LABEL_TYPE: &str = "io.kubernetes.docker.type";
const TYPE_SANDBOX: &str = "podsandbox";
const TYPE_CONTAINER: &str = "container";

/// How the Docker runtime runs pods.
#[derive(Debug, Clone)]
pub struct DockerRuntimeConfig {
    /// Where pods' volume directories live (bind mounted into containers).
    pub root: PathBuf,
    /// The node's name: the value of the `bosun.dev/node` label on its containers.
    pub node: String,
    /// The image of the sandbox ("pause") container.
    pub pod_infra_image: String,
    /// The sandbox's command; empty runs the image's own (`/pause` for the pause image).
    pub pod_infra_command: Vec<String>,
    /// The Docker network sandboxes join ("bridge": Docker's default bridge).
    pub network: String,
}

/// What the runtime remembers of a container between lists: the states Docker only tells
/// through an inspect.
#[derive(Debug, Clone)]
struct Known {
    state: ContainerState,
}

#[derive(Debug)]
pub struct DockerRuntime {
    docker: Docker,
    config: DockerRuntimeConfig,
    known: Mutex<HashMap<String, Known>>,
    changed: Notify,
}

fn engine(e: bollard::errors::Error) -> RuntimeError {
    RuntimeError::Runtime(format!("docker: {e}"))
}

/// The HTTP status of a Docker error answer, if it is one.
fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The message of a Docker error answer, without bollard's wrapping.
fn message_of(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// A Docker container name for a pod's container: readable, unique per node and attempt.
pub fn container_name(
    node: &str,
    container: &str,
    pod: &str,
    namespace: &str,
    uid: &str,
    attempt: u32,
) -> String {
    let raw = format!("k8s_{container}_{pod}_{namespace}_{uid}_{attempt}_{node}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// How Docker's view of a container maps to the runtime's: running, or exited with its code
/// and the kubelet's reason.
pub fn state_from_inspect(inspect: &ContainerInspectResponse) -> Option<ContainerState> {
    let s = inspect.state.as_ref()?;
    let time = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .filter(|t| *t > Timestamp::UNIX_EPOCH)
    };
    let started_at = time(&s.started_at);
    if s.running == Some(true) || s.restarting == Some(true) || s.paused == Some(true) {
        return Some(ContainerState::Running {
            started_at: started_at.unwrap_or_else(Timestamp::now),
        });
    }
    // Created but never started: not a run yet.
    let started_at = started_at?;
    let exit_code = i32::try_from(s.exit_code.unwrap_or(0)).unwrap_or(255);
    let reason = if s.oom_killed == Some(true) {
        "OOMKilled"
    } else if exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    Some(ContainerState::Exited {
        exit_code,
        started_at,
        finished_at: time(&s.finished_at).unwrap_or(started_at),
        reason: reason.into(),
    })
}

impl DockerRuntime {
    /// Connect to the engine named by `DOCKER_HOST` (default: the local socket) and agree on
    /// an API version with it.
    pub async fn connect(config: DockerRuntimeConfig) -> Result<Self> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(engine)?
            .negotiate_version()
            .await
            .map_err(engine)?;
        std::fs::create_dir_all(&config.root)
            .map_err(|e| RuntimeError::Runtime(format!("create {}: {e}", config.root.display())))?;
        Ok(Self {
            docker,
            config,
            known: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        })
    }

    /// The engine client, for tools and tests that prepare images.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This node's containers with the given extra label filters.
    async fn containers(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<bollard::models::ContainerSummary>> {
        let mut label_filters = vec![format!("{LABEL_NODE}={}", self.config.node)];
        label_filters.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
        let filters = HashMap::from([("label".to_string(), label_filters)]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(engine)
    }

    async fn sandbox(&self, pod_uid: &str) -> Result<Option<bollard::models::ContainerSummary>> {
        Ok(self
            .containers(&[(LABEL_POD_UID, pod_uid), (LABEL_TYPE, TYPE_SANDBOX)])
            .await?
            .into_iter()
            .next())
    }

    /// Use the image if it is here, pull it otherwise.
    async fn ensure_image(&self, image: &str) -> Result<()> {
        match self.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(engine(e)),
        }
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut pull = self.docker.create_image(Some(options), None, None);
        while let Some(progress) = pull.next().await {
            if let Err(e) = progress {
                return Err(RuntimeError::CreateContainer {
                    reason: "ErrImagePull",
                    message: format!(
                        "failed to pull and unpack image \"{image}\": {}",
                        message_of(&e)
                    ),
                });
            }
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => {}
            Err(e) if matches!(status_of(&e), Some(404 | 409)) => {}
            Err(e) => return Err(engine(e)),
        }
        self.known().remove(id);
        Ok(())
    }

    /// Create and start a container; a container left over under the same name (a crash
    /// between create and start) is removed first.
    async fn create_and_start(&self, name: &str, body: ContainerCreateBody) -> Result<String> {
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let created = match self
            .docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Ok(c) => c,
            Err(e) if status_of(&e) == Some(409) => {
                self.remove(name).await?;
                self.docker
                    .create_container(Some(options), body)
                    .await
                    .map_err(|e| RuntimeError::CreateContainer {
                        reason: "CreateContainerError",
                        message: message_of(&e),
                    })?
            }
            Err(e) if status_of(&e).is_some() => {
                return Err(RuntimeError::CreateContainer {
                    reason: "CreateContainerError",
                    message: message_of(&e),
                });
            }
            Err(e) => return Err(engine(e)),
        };
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            let _ = self.remove(&created.id).await;
            return Err(match status_of(&e) {
                Some(_) => RuntimeError::CreateContainer {
                    reason: "RunContainerError",
                    message: message_of(&e),
                },
                None => engine(e),
            });
        }
        Ok(created.id)
    }

    async fn inspect_state(&self, id: &str) -> Result<Option<ContainerState>> {
        match self.docker.inspect_container(id, None).await {
            Ok(i) => Ok(state_from_inspect(&i)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(engine(e)),
        }
    }

    /// The sandbox's address on the configured network.
    async fn sandbox_ip(&self, id: &str) -> Result<Option<Ipv4Addr>> {
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(engine)?;
        let networks = inspect
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default();
        let ip = networks
            .get(&self.config.network)
            .or_else(|| networks.values().next())
            .and_then(|e| e.ip_address.as_deref())
            .and_then(|ip| ip.parse().ok());
        Ok(ip)
    }

    fn labels(&self, uid: &str, namespace: &str, pod: &str, kind: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_NODE.to_string(), self.config.node.clone()),
            (LABEL_POD_UID.to_string(), uid.to_string()),
            (LABEL_POD_NAMESPACE.to_string(), namespace.to_string()),
            (LABEL_POD_NAME.to_string(), pod.to_string()),
            (LABEL_TYPE.to_string(), kind.to_string()),
        ])
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn limits_enforced(&self) -> Result<(), String> {
        Ok(())
    }

    async fn health(&self) -> Result<()> {
        self.docker.ping().await.map(|_| ()).map_err(engine)
    }

    async fn start_sandbox(&self, sandbox: &SandboxConfig) -> Result<Ipv4Addr> {
        let dir = volumes::pod_dir(&self.config.root, &sandbox.pod_uid)?;
        volumes::write_volumes(&dir.join("volumes"), &sandbox.volumes)?;
        let id = match self.sandbox(&sandbox.pod_uid).await? {
            Some(s) if s.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING) => {
                s.id.unwrap_or_default()
            }
            Some(s) => {
                // A stopped sandbox (the engine restarted): start it again.
                let id = s.id.unwrap_or_default();
                self.docker
                    .start_container(&id, None)
                    .await
                    .map_err(engine)?;
                id
            }
            None => {
                let image = self.config.pod_infra_image.clone();
                self.ensure_image(&image).await?;
                let body = ContainerCreateBody {
                    image: Some(image),
                    cmd: (!self.config.pod_infra_command.is_empty())
                        .then(|| self.config.pod_infra_command.clone()),
                    hostname: Some(sandbox.name.chars().take(63).collect()),
                    labels: Some(self.labels(
                        &sandbox.pod_uid,
                        &sandbox.namespace,
                        &sandbox.name,
                        TYPE_SANDBOX,
                    )),
                    host_config: Some(HostConfig {
                        network_mode: Some(self.config.network.clone()),
                        ..HostConfig::default()
                    }),
                    ..ContainerCreateBody::default()
                };
                let name = container_name(
                    &self.config.node,
                    "POD",
                    &sandbox.name,
                    &sandbox.namespace,
                    &sandbox.pod_uid,
                    0,
                );
                self.create_and_start(&name, body).await?
            }
        };
        Ok(self.sandbox_ip(&id).await?.unwrap_or(sandbox.ip))
    }

    async fn start_container(&self, c: &ContainerConfig) -> Result<String> {
        let sandbox = self
            .sandbox(&c.pod_uid)
            .await?
            .filter(|s| s.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING))
            .ok_or_else(|| {
                RuntimeError::Runtime(format!("the sandbox of pod {} is not running", c.pod_uid))
            })?;
        let sandbox_id = sandbox.id.clone().unwrap_or_default();
        let sandbox_labels = sandbox.labels.unwrap_or_default();
        let namespace = sandbox_labels
            .get(LABEL_POD_NAMESPACE)
            .cloned()
            .unwrap_or_default();
        let pod = sandbox_labels
            .get(LABEL_POD_NAME)
            .cloned()
            .unwrap_or_default();
        self.ensure_image(&c.image).await?;
        // Keep the previous run (for `logs --previous`), remove older ones.
        for old in self
            .containers(&[
                (LABEL_POD_UID, &c.pod_uid),
                (LABEL_CONTAINER_NAME, &c.name),
                (LABEL_TYPE, TYPE_CONTAINER),
            ])
            .await?
        {
            let attempt = old
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_ATTEMPT))
                .and_then(|a| a.parse::<u32>().ok())
                .unwrap_or(0);
            if attempt + 1 < c.attempt
                && let Some(id) = &old.id
            {
                self.remove(id).await?;
            }
        }
        let pod_dir = volumes::pod_dir(&self.config.root, &c.pod_uid)?;
        let binds = c
            .mounts
            .iter()
            .map(|(volume, path)| {
                format!("{}:{path}", pod_dir.join("volumes").join(volume).display())
            })
            .collect::<Vec<_>>();
        let mut labels = self.labels(&c.pod_uid, &namespace, &pod, TYPE_CONTAINER);
        labels.insert(LABEL_CONTAINER_NAME.into(), c.name.clone());
        labels.insert(LABEL_ATTEMPT.into(), c.attempt.to_string());
        let body = ContainerCreateBody {
            image: Some(c.image.clone()),
            entrypoint: c.entrypoint.clone(),
            cmd: c.args.clone(),
            env: Some(c.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: c.working_dir.clone(),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some(format!("container:{sandbox_id}")),
                binds: (!binds.is_empty()).then_some(binds),
                memory: c.memory_limit,
                // No swap beyond the limit, as the kubelet sets it.
                memory_swap: c.memory_limit,
                nano_cpus: c.cpu_limit_milli.map(|m| m * 1_000_000),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let name = container_name(
            &self.config.node,
            &c.name,
            &pod,
            &namespace,
            &c.pod_uid,
            c.attempt,
        );
        let id = self.create_and_start(&name, body).await?;
        self.changed.notify_waiters();
        Ok(id)
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let secs = i32::try_from(grace.as_secs() + u64::from(grace.subsec_nanos() > 0))
            .unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(secs).build();
        let result = self.docker.stop_container(id, Some(options)).await;
        self.known().remove(id);
        self.changed.notify_waiters();
        match result {
            Ok(()) => Ok(()),
            // Already stopped, or gone.
            Err(e) if matches!(status_of(&e), Some(304 | 404)) => Ok(()),
            Err(e) => Err(engine(e)),
        }
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<()> {
        for c in self.containers(&[(LABEL_POD_UID, pod_uid)]).await? {
            if let Some(id) = &c.id {
                self.remove(id).await?;
            }
        }
        self.changed.notify_waiters();
        volumes::remove_pod_dir(&volumes::pod_dir(&self.config.root, pod_uid)?)
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>> {
        let summaries = self.containers(&[(LABEL_TYPE, TYPE_CONTAINER)]).await?;
        let mut out = Vec::with_capacity(summaries.len());
        let mut seen = Vec::with_capacity(summaries.len());
        for s in summaries {
            let (Some(id), Some(labels)) = (s.id, s.labels) else {
                continue;
            };
            let (Some(uid), Some(name)) =
                (labels.get(LABEL_POD_UID), labels.get(LABEL_CONTAINER_NAME))
            else {
                continue;
            };
            let attempt = labels
                .get(LABEL_ATTEMPT)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            seen.push(id.clone());
            let running = s.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING);
            let cached = self.known().get(&id).map(|k| k.state.clone());
            // Exited states never change; running ones keep their start time.
            let state = match cached {
                Some(state @ ContainerState::Exited { .. }) => Some(state),
                Some(state @ ContainerState::Running { .. }) if running => Some(state),
                _ => {
                    let state = self.inspect_state(&id).await?;
                    if let Some(state) = &state {
                        self.known().insert(
                            id.clone(),
                            Known {
                                state: state.clone(),
                            },
                        );
                    }
                    state
                }
            };
            let Some(state) = state else { continue };
            out.push(ContainerInfo {
                id,
                pod_uid: uid.clone(),
                name: name.clone(),
                attempt,
                state,
            });
        }
        self.known().retain(|id, _| seen.contains(id));
        Ok(out)
    }

    async fn exec_stream(&self, id: &str, request: ExecRequest) -> Result<ExecSession> {
        let options = CreateExecOptions {
            attach_stdin: Some(request.stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(request.tty),
            cmd: Some(request.command.clone()),
            ..CreateExecOptions::default()
        };
        let exec = match self.docker.create_exec(id, options).await {
            Ok(e) => e,
            Err(e) if matches!(status_of(&e), Some(404 | 409)) => {
                return Err(RuntimeError::NotFound(format!(
                    "{id} is not running: {}",
                    message_of(&e)
                )));
            }
            Err(e) => return Err(engine(e)),
        };
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: request.tty,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(engine)?;
        let StartExecResults::Attached { mut output, input } = started else {
            return Err(RuntimeError::Runtime("docker detached the exec".into()));
        };
        let (tx, rx) = mpsc::channel(16);
        let (resize_tx, mut resize_rx) = mpsc::unbounded_channel::<TerminalSize>();
        let docker = self.docker.clone();
        let exec_id = exec.id.clone();
        tokio::spawn(async move {
            let mut resizes_open = true;
            loop {
                tokio::select! {
                    chunk = output.next() => match chunk {
                        Some(Ok(LogOutput::StdErr { message })) => {
                            if tx.send(ExecEvent::Stderr(message)).await.is_err() { return; }
                        }
                        Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                            if tx.send(ExecEvent::Stdout(message)).await.is_err() { return; }
                        }
                        Some(Ok(LogOutput::StdIn { .. })) => {}
                        Some(Err(_)) | None => break,
                    },
                    size = resize_rx.recv(), if resizes_open => match size {
                        Some(size) => {
                            let options = ResizeExecOptionsBuilder::default()
                                .w(i32::from(size.width))
                                .h(i32::from(size.height))
                                .build();
                            let _ = docker.resize_exec(&exec_id, options).await;
                        }
                        None => resizes_open = false,
                    },
                }
            }
            // The output ended with the process; its exit code may take a moment to show.
            let mut code = None;
            for _ in 0..50 {
                match docker.inspect_exec(&exec_id).await {
                    Ok(i) if i.running == Some(true) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Ok(i) => {
                        code = i.exit_code;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let code = code.and_then(|c| i32::try_from(c).ok()).unwrap_or(255);
            let _ = tx.send(ExecEvent::Exit(code)).await;
        });
        Ok(ExecSession {
            stdin: request.stdin.then_some(input),
            events: rx,
            resize: request.tty.then_some(resize_tx),
            _stop: None,
        })
    }

    async fn logs(&self, id: &str, options: LogOptions) -> Result<LogStream> {
        let tail = options
            .tail_lines
            .map_or_else(|| "all".to_string(), |n| n.to_string());
        let query = LogsOptionsBuilder::default()
            .follow(options.follow)
            .stdout(true)
            .stderr(true)
            .tail(&tail)
            .build();
        match self.docker.inspect_container(id, None).await {
            Ok(_) => {}
            Err(e) if status_of(&e) == Some(404) => {
                return Err(RuntimeError::NotFound(id.to_string()));
            }
            Err(e) => return Err(engine(e)),
        }
        let stream = self.docker.logs(id, Some(query)).map(|chunk| match chunk {
            Ok(out) => Ok(out.into_bytes()),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        });
        Ok(Box::pin(stream))
    }

    async fn images(&self) -> Result<Vec<ImageInfo>> {
        let options = ListImagesOptionsBuilder::default().build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(engine)?;
        Ok(images
            .into_iter()
            .map(|i| ImageInfo {
                names: i
                    .repo_digests
                    .into_iter()
                    .chain(i.repo_tags)
                    .filter(|n| !n.starts_with("<none>"))
                    .collect(),
                size_bytes: i.size,
            })
            .filter(|i| !i.names.is_empty())
            .collect())
    }

    async fn usage(&self, ids: &[String]) -> Result<HashMap<String, ContainerUsage>> {
        let options = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let reads = ids.iter().map(|id| {
            let options = options.clone();
            async move {
                let stats = self.docker.stats(id, Some(options)).next().await?.ok()?;
                let cpu = stats.cpu_stats?.cpu_usage?.total_usage?;
                let memory = stats.memory_stats?;
                let usage = memory.usage?;
                let inactive = memory
                    .stats
                    .as_ref()
                    .and_then(|s| {
                        s.get("total_inactive_file")
                            .or_else(|| s.get("inactive_file"))
                            .copied()
                    })
                    .unwrap_or(0);
                Some((
                    id.clone(),
                    ContainerUsage {
                        cpu_core_nanoseconds: cpu,
                        memory_usage_bytes: usage,
                        memory_working_set_bytes: usage.saturating_sub(inactive),
                    },
                ))
            }
        });
        Ok(futures::future::join_all(reads)
            .await
            .into_iter()
            .flatten()
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

/// Import a root filesystem tarball as an image named `tag` (what `docker import` does), for
/// machines with no registry.
pub async fn import_rootfs(docker: &Docker, tar: Vec<u8>, tag: &str) -> Result<()> {
    let (repo, version) = match tag.rsplit_once(':') {
        Some((r, v)) if !v.contains('/') => (r, v),
        _ => (tag, "latest"),
    };
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .build();
    let mut progress = docker.create_image(
        Some(options),
        Some(bollard::body_full(Bytes::from(tar))),
        None,
    );
    while let Some(p) = progress.next().await {
        p.map_err(engine)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ContainerState as DockerState;

    #[test]
    fn container_names_are_readable_and_valid() {
        assert_eq!(
            container_name("n1", "web", "web-1", "default", "u-1", 2),
            "k8s_web_web-1_default_u-1_2_n1"
        );
        assert_eq!(
            container_name("node:1", "POD", "p", "ns", "u", 0),
            "k8s_POD_p_ns_u_0_node-1"
        );
    }

    fn inspect(state: DockerState) -> ContainerInspectResponse {
        ContainerInspectResponse {
            state: Some(state),
            ..ContainerInspectResponse::default()
        }
    }

    #[test]
    fn docker_states_map_to_running_exited_and_the_kubelet_reasons() {
        let t0 = "2026-01-01T00:00:00.5Z".to_string();
        let t1 = "2026-01-01T00:00:09Z".to_string();
        let running = inspect(DockerState {
            running: Some(true),
            started_at: Some(t0.clone()),
            ..DockerState::default()
        });
        assert_eq!(
            state_from_inspect(&running),
            Some(ContainerState::Running {
                started_at: t0.parse().expect("time")
            })
        );
        let exited = |code: i64, oom: bool| {
            let ContainerState::Exited {
                exit_code, reason, ..
            } = state_from_inspect(&inspect(DockerState {
                running: Some(false),
                exit_code: Some(code),
                oom_killed: Some(oom),
                started_at: Some(t0.clone()),
                finished_at: Some(t1.clone()),
                ..DockerState::default()
            }))
            .expect("a state")
            else {
                panic!("not exited")
            };
            (exit_code, reason)
        };
        assert_eq!(exited(0, false), (0, "Completed".into()));
        assert_eq!(exited(3, false), (3, "Error".into()));
        assert_eq!(exited(137, true), (137, "OOMKilled".into()));
        let never_started = inspect(DockerState {
            running: Some(false),
            started_at: Some("0001-01-01T00:00:00Z".into()),
            ..DockerState::default()
        });
        assert_eq!(state_from_inspect(&never_started), None);
    }
}
