//! `bosun apiserver`: one API server replica, on a member of the embedded raft store (flags
//! for its id, peers and data dir) or on an external etcd (`--etcd-endpoints`). Replicas of one
//! cluster share the PKI dir and the token file; any replica serves reads and writes.

use crate::control_plane::{Component, ControlPlane, ControlPlaneConfig, StoreChoice};
use crate::store_member::parse_members;
use anyhow::{Context, Result};
use bosun_store_raft::RaftConfig;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ApiServerArgs {
    /// The HTTPS address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// The CA and serving certificate, shared by the cluster's replicas (created if missing).
    #[arg(long)]
    pub pki_dir: PathBuf,
    /// The bearer token file, shared by the cluster's replicas (created if missing).
    #[arg(long)]
    pub token_file: PathBuf,
    /// Write an admin kubeconfig here.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Extra names and addresses for the serving certificate (a load balancer's, other
    /// replicas'), comma-separated. Only the replica that creates the PKI dir uses them.
    #[arg(long, value_delimiter = ',')]
    pub tls_san: Vec<String>,
    /// The URL clients use, written into kubeconfigs (e.g. a load balancer in front of the
    /// replicas); default https://<listen address>.
    #[arg(long)]
    pub advertise_url: Option<String>,
    /// Write kubeconfigs for every component here: admin, scheduler, controller-manager, and
    /// node-<name> for each of --node-names.
    #[arg(long)]
    pub component_kubeconfigs: Option<PathBuf>,
    /// The node agents to write kubeconfigs for (each its own client certificate).
    #[arg(long, value_delimiter = ',')]
    pub node_names: Vec<String>,
    /// Use this etcd cluster instead of the embedded store (comma-separated URLs).
    #[arg(long, value_delimiter = ',')]
    pub etcd_endpoints: Vec<String>,
    /// Embedded store: this member's id.
    #[arg(long, default_value_t = 1)]
    pub id: u64,
    /// Embedded store: the cluster name.
    #[arg(long, default_value = "bosun")]
    pub cluster: String,
    /// Embedded store: where this member keeps its data.
    #[arg(long, default_value = "bosun-data/store")]
    pub data_dir: PathBuf,
    /// Embedded store: the member port.
    #[arg(long, default_value = "127.0.0.1:2380")]
    pub member_listen: SocketAddr,
    /// Embedded store: the initial members, `id=host:port,...` (default: this one alone).
    #[arg(long, value_delimiter = ',')]
    pub initial_members: Vec<String>,
    #[arg(long, default_value_t = 300)]
    pub compaction_interval_s: u64,
    #[arg(long, default_value_t = 3600)]
    pub event_ttl_s: u64,
    /// At most this many watches open at once; more get 429 TooManyRequests with Retry-After.
    #[arg(long, default_value_t = bosun_apiserver::DEFAULT_MAX_WATCHES)]
    pub max_watches: usize,
}

pub async fn run(args: ApiServerArgs) -> Result<()> {
    let store = if args.etcd_endpoints.is_empty() {
        let mut c = RaftConfig::new(
            args.id,
            args.cluster.clone(),
            args.data_dir.clone(),
            args.member_listen,
        );
        c.initial_members = parse_members(&args.initial_members)?;
        StoreChoice::Embedded(Box::new(c))
    } else {
        StoreChoice::Etcd(args.etcd_endpoints.clone())
    };
    let plane = ControlPlane::start(ControlPlaneConfig {
        store,
        pki_dir: args.pki_dir.clone(),
        token_file: args.token_file.clone(),
        listen: args.listen,
        extra_hosts: args.tls_san.clone(),
        advertise_url: args.advertise_url.clone(),
        compaction_interval: Duration::from_secs(args.compaction_interval_s),
        event_ttl: Duration::from_secs(args.event_ttl_s),
        max_watches: args.max_watches,
    })
    .await?;
    if let Some(path) = &args.kubeconfig {
        plane.write_kubeconfig(path).context("kubeconfig")?;
    }
    if let Some(dir) = &args.component_kubeconfigs {
        write_component_kubeconfigs(&plane, dir, &args.node_names)?;
    }
    println!("bosun apiserver is ready at {}", plane.url());
    crate::signal::shutdown().await;
    plane.shutdown().await;
    println!("bosun apiserver stopped");
    Ok(())
}

/// Every component's kubeconfig in `dir`, named as `bosun up` names them.
fn write_component_kubeconfigs(
    plane: &ControlPlane,
    dir: &std::path::Path,
    nodes: &[String],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    plane.write_kubeconfig(&dir.join("admin.kubeconfig"))?;
    plane.write_component_kubeconfig(&dir.join("scheduler.kubeconfig"), Component::Scheduler)?;
    plane.write_component_kubeconfig(
        &dir.join("controller-manager.kubeconfig"),
        Component::ControllerManager,
    )?;
    for name in nodes.iter().filter(|n| !n.is_empty()) {
        plane.write_component_kubeconfig(
            &dir.join(format!("node-{name}.kubeconfig")),
            Component::Node(name),
        )?;
    }
    Ok(())
}
