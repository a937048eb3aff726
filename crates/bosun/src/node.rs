//! `bosun node`: the node agent. Registers a Node (or, with `--simulate N`, N of them), renews
//! its Lease and runs the pods bound to it on the process, Docker or simulated runtime.

use anyhow::{Context, Result, bail};
use bosun_node::node_status::{self, NodeFacts};
use bosun_node::runtime::docker::{DockerRuntime, DockerRuntimeConfig};
use bosun_node::runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use bosun_node::runtime::simulated::SimulatedRuntime;
use bosun_node::{Agent, AgentConfig, ContainerRuntime};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    Process,
    Docker,
    Simulated,
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The Node's name (default: this host's name).
    #[arg(long)]
    pub name: Option<String>,
    /// How to reach and authenticate to the API server.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// What runs containers.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Process)]
    pub runtime: RuntimeKind,
    /// Docker runtime: the image of each pod's sandbox ("pause") container.
    #[arg(long, default_value = "registry.k8s.io/pause:3.10")]
    pub pod_infra_image: String,
    /// Docker runtime: the sandbox's command, comma-separated (default: the image's own).
    #[arg(long, value_delimiter = ',')]
    pub pod_infra_command: Vec<String>,
    /// Docker runtime: the Docker network pods join.
    #[arg(long, default_value = "bridge")]
    pub docker_network: String,
    /// Where pods' directories, volumes and logs live.
    #[arg(long, default_value = "bosun-node-data")]
    pub data_dir: PathBuf,
    /// Pod addresses come from here (inside 127.0.0.0/8 for the process runtime).
    #[arg(long, default_value = "127.1.0.0/24")]
    pub pod_cidr: String,
    /// The node's address, as other components reach it.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: String,
    /// CPU to offer, in millicores (default: this host's).
    #[arg(long)]
    pub cpu_milli: Option<i64>,
    /// Memory to offer, in bytes (default: this host's).
    #[arg(long)]
    pub memory_bytes: Option<i64>,
    #[arg(long, default_value_t = 110)]
    pub max_pods: i64,
    /// Extra node labels, `k=v,k2=v2`.
    #[arg(long, default_value = "")]
    pub labels: String,
    /// Renew the node's Lease this often.
    #[arg(long, default_value_t = 10)]
    pub lease_interval_s: u64,
    /// Refresh the Node's status this often.
    #[arg(long, default_value_t = 60)]
    pub status_interval_s: u64,
    /// The HTTPS port of the agent's endpoint (logs) on --address; 0 picks a free one.
    #[arg(long, default_value_t = 10250)]
    pub port: u16,
    /// Stop every pod's containers when the agent stops (as `bosun up` does when the cluster
    /// stops); by default they keep running and the next agent adopts them.
    #[arg(long)]
    pub stop_pods_on_exit: bool,
    /// Simulate this many nodes named `<name>-<i>` (simulated runtime only).
    #[arg(long)]
    pub simulate: Option<usize>,
    /// Simulated containers of pods that do not restart Always complete after this long.
    #[arg(long, default_value_t = 5)]
    pub sim_complete_after_s: u64,
}

pub async fn run(args: NodeArgs) -> Result<()> {
    let client = crate::kube_client::from_kubeconfig(&args.kubeconfig).await?;
    let name = match args.name.clone() {
        Some(n) => n,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_lowercase())
            .context("no --name and no hostname")?,
    };
    let runtime: Arc<dyn ContainerRuntime> = match args.runtime {
        RuntimeKind::Process => {
            if args.simulate.is_some() {
                bail!("--simulate needs --runtime simulated");
            }
            let exe = std::env::current_exe().context("find the bosun binary for the shim")?;
            Arc::new(
                ProcessRuntime::new(ProcessRuntimeConfig {
                    root: std::path::absolute(args.data_dir.join("pods"))?,
                    shim: vec![exe.display().to_string(), "container-shim".into()],
                    max_log_bytes: 10 << 20,
                    cgroups: Some(name.clone()),
                })
                .context("process runtime")?,
            )
        }
        RuntimeKind::Docker => {
            if args.simulate.is_some() {
                bail!("--simulate needs --runtime simulated");
            }
            Arc::new(
                DockerRuntime::connect(DockerRuntimeConfig {
                    root: std::path::absolute(args.data_dir.join("pods"))?,
                    node: name.clone(),
                    pod_infra_image: args.pod_infra_image.clone(),
                    pod_infra_command: args.pod_infra_command.clone(),
                    network: args.docker_network.clone(),
                })
                .await
                .context("the Docker runtime")?,
            )
        }
        RuntimeKind::Simulated => Arc::new(SimulatedRuntime::new(Duration::from_secs(
            args.sim_complete_after_s,
        ))),
    };
    let (host_cpu, host_mem) = node_status::host_resources();
    let facts = NodeFacts {
        name: name.clone(),
        address: args.address.clone(),
        port: 0,
        pod_cidr: args.pod_cidr.clone(),
        cpu_milli: args.cpu_milli.unwrap_or(host_cpu),
        memory_bytes: args.memory_bytes.unwrap_or(host_mem),
        max_pods: args.max_pods,
        labels: bosun_node::agent::parse_labels(&args.labels).map_err(anyhow::Error::msg)?,
        runtime: runtime.name().to_string(),
        limits: runtime.limits_enforced(),
    };
    let nodes = match args.simulate {
        Some(n) => bosun_node::agent::simulated_nodes(&name, n, &facts),
        None => vec![facts],
    };
    let count = nodes.len();
    let endpoint = if args.simulate.is_some() {
        None
    } else {
        let ca_pem = ca_from_kubeconfig(&args.kubeconfig)?;
        let tls = bosun_pki::node_tls::agent_server_config(
            &ca_pem,
            &[args.address.clone(), name.clone()],
        )
        .context("the agent's TLS configuration")?;
        let addr: std::net::IpAddr = args
            .address
            .parse()
            .context("--address must be an IP address")?;
        let listener = tokio::net::TcpListener::bind((addr, args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.address, args.port))?;
        Some((listener, Arc::new(tls)))
    };
    let agent = Agent::start(
        AgentConfig {
            nodes,
            lease_interval: Duration::from_secs(args.lease_interval_s.max(1)),
            lease_duration_s: 40,
            status_interval: Duration::from_secs(args.status_interval_s.max(1)),
        },
        client,
        runtime.clone(),
        endpoint,
    )?;
    let runtime_for_exit = runtime;
    tracing::info!(node = %name, nodes = count, "node agent started");
    crate::signal::shutdown().await;
    agent.shutdown().await;
    if args.stop_pods_on_exit {
        bosun_node::agent::stop_all(runtime_for_exit.as_ref()).await;
    }
    Ok(())
}

/// `bosun container-shim <exit file> [--cgroup DIR]... -- <command...>`: run by the process
/// runtime.
pub fn shim_main(args: &[String]) -> std::process::ExitCode {
    bosun_node::shim::main(args)
}

/// The cluster CA from a kubeconfig's current cluster, PEM.
fn ca_from_kubeconfig(path: &std::path::Path) -> Result<String> {
    use base64::Engine;
    let kc = crate::kube_client::read(path)?;
    let context_name = kc.current_context.clone().unwrap_or_default();
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .or_else(|| kc.clusters.first())
        .and_then(|c| c.cluster.as_ref())
        .context("the kubeconfig names no cluster")?;
    if let Some(data) = &cluster.certificate_authority_data {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .context("certificate-authority-data is not base64")?;
        return String::from_utf8(pem).context("certificate-authority-data is not PEM");
    }
    if let Some(file) = &cluster.certificate_authority {
        return std::fs::read_to_string(file).with_context(|| format!("read {file}"));
    }
    anyhow::bail!("the kubeconfig has no certificate authority for its cluster")
}
