//! `bosun up`: a one-machine cluster in one command: the embedded store (a raft group of one),
//! the API server on HTTPS, a CA and an admin kubeconfig in the data dir, and the scheduler,
//! controller manager and node agents as supervised child processes (restarted with back-off
//! when they die). Run again with the same data dir, it comes back with every object.

use crate::control_plane::{Component, ControlPlane, ControlPlaneConfig, StoreChoice};
use anyhow::{Context, Result};
use bosun_store_raft::RaftConfig;
use clap::Args;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where everything lives: store, certificates, tokens, kubeconfig, logs.
    #[arg(long, default_value = "bosun-data")]
    pub data_dir: PathBuf,
    /// The API server's HTTPS port on 127.0.0.1.
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Compact the store's history this often, in seconds.
    #[arg(long, default_value_t = 300)]
    pub compaction_interval_s: u64,
    /// Delete Events older than this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub event_ttl_s: u64,
    /// Development timing: a node whose Lease is this old (seconds) is unreachable
    /// (Kubernetes: 40).
    #[arg(long, default_value_t = 8)]
    pub node_grace_s: u64,
    /// Development timing: pods on an unreachable node are evicted after this many seconds
    /// (Kubernetes: 300).
    #[arg(long, default_value_t = 10)]
    pub eviction_s: u64,
    /// How many node agents to start (process runtime), named bosun-node-<i>.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
}

pub async fn run(args: UpArgs) -> Result<()> {
    let started = Instant::now();
    let dir = std::path::absolute(&args.data_dir).context("resolve the data dir")?;
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("create {}", dir.display()))?;
    let store = RaftConfig::new(
        1,
        "bosun-up",
        dir.join("store"),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    );
    let plane = ControlPlane::start(ControlPlaneConfig {
        store: StoreChoice::Embedded(Box::new(store)),
        pki_dir: dir.join("pki"),
        token_file: dir.join("tokens.csv"),
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        extra_hosts: Vec::new(),
        advertise_url: None,
        compaction_interval: Duration::from_secs(args.compaction_interval_s),
        event_ttl: Duration::from_secs(args.event_ttl_s),
        max_watches: bosun_apiserver::DEFAULT_MAX_WATCHES,
    })
    .await?;
    let kubeconfig = dir.join("kubeconfig");
    plane.write_kubeconfig(&kubeconfig)?;
    let mut components = crate::components::Components::new(&dir)?;
    let sched_kc = dir.join("scheduler.kubeconfig");
    plane.write_component_kubeconfig(&sched_kc, Component::Scheduler)?;
    components.spawn(
        "scheduler",
        &[
            "scheduler".into(),
            "--kubeconfig".into(),
            sched_kc.display().to_string(),
            "--lease-duration-s".into(),
            "4".into(),
        ],
    )?;
    let cm_kc = dir.join("controller-manager.kubeconfig");
    plane.write_component_kubeconfig(&cm_kc, Component::ControllerManager)?;
    // Development timings (said in `bosun up --help`): nodes are unreachable after 8 s
    // without a Lease renewal and their pods are evicted 10 s later.
    components.spawn(
        "controller-manager",
        &[
            "controller-manager".into(),
            "--kubeconfig".into(),
            cm_kc.display().to_string(),
            "--lease-duration-s".into(),
            "4".into(),
            "--node-monitor-grace-period-s".into(),
            args.node_grace_s.to_string(),
            "--default-toleration-s".into(),
            args.eviction_s.to_string(),
        ],
    )?;
    if args.nodes > 256 {
        anyhow::bail!("--nodes: at most 256 node agents (one /24 each)");
    }
    let plane_port: u16 = plane
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(args.port);
    for i in 0..args.nodes {
        let name = format!("bosun-node-{i}");
        let kc = dir.join(format!("{name}.kubeconfig"));
        plane.write_component_kubeconfig(&kc, Component::Node(&name))?;
        components.spawn(
            &name,
            &[
                "node".into(),
                "--name".into(),
                name.clone(),
                "--kubeconfig".into(),
                kc.display().to_string(),
                "--data-dir".into(),
                dir.join("nodes").join(&name).display().to_string(),
                "--pod-cidr".into(),
                // Clusters on different ports get different pod networks, so pods of two
                // clusters on one machine never share an address.
                format!(
                    "127.{}.{}.0/24",
                    64 + usize::from(plane_port) % 160,
                    i % 256
                ),
                "--port".into(),
                "0".into(),
                "--stop-pods-on-exit".into(),
                "--lease-interval-s".into(),
                "2".into(),
            ],
        )?;
    }
    println!("export KUBECONFIG={}", kubeconfig.display());
    println!(
        "bosun is ready at {} ({} ms)",
        plane.url(),
        started.elapsed().as_millis()
    );
    // Restart children that die, until asked to stop.
    let shutdown = crate::signal::shutdown();
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => components.supervise(),
        }
    }
    components.stop();
    plane.shutdown().await;
    println!("bosun stopped");
    Ok(())
}
