//! `bosun bench controllers`: the controllers against a real control plane. Starts `bosun
//! apiserver` (a raft group of one), `bosun scheduler`, `bosun controller-manager` with short
//! node-lifecycle timings and simulating node agents, all as child processes, and measures
//! over HTTPS: a Deployment scaled from 0 to many replicas until all are Running (and the rate
//! of each stage: created, bound, Running, from watch timestamps), then self-healing: the
//! agent of one node (or a few) is killed and the time until its pods run elsewhere, and the
//! controller manager's memory.

use super::cluster::{Cluster, PodWatch, sim_agent_args};
use super::stats::{r1, rss_mb, stage_rate};
use anyhow::{Context, Result, bail};
use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct ControllersBenchArgs {
    /// Simulated nodes in all (identical: 64 CPUs, 256 GiB, 110 pods each).
    #[arg(long, default_value_t = 1_000)]
    pub nodes: usize,
    /// Replicas the Deployment is scaled to.
    #[arg(long, default_value_t = 10_000)]
    pub replicas: usize,
    /// Nodes whose agent (a separate process) is killed for the self-healing measurement.
    #[arg(long, default_value_t = 1)]
    pub victims: usize,
    /// The controller manager's --node-monitor-grace-period-s.
    #[arg(long, default_value_t = 12)]
    pub grace_s: u64,
    /// The controller manager's --default-toleration-s (tolerationSeconds of the pods).
    #[arg(long, default_value_t = 5)]
    pub toleration_s: u64,
    /// Lease renewal interval of the agent standing for the other nodes (well under the grace
    /// period; the victims' agent renews every second).
    #[arg(long, default_value_t = 3)]
    pub lease_interval_s: u64,
    /// Where data dirs and logs go (default: a fresh temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

const LABEL: &str = "app%3Dbench-deploy";

fn running_elsewhere(s: &super::cluster::WatchState, victims: &[String]) -> usize {
    s.pods
        .values()
        .filter(|p| {
            p.phase.as_deref() == Some("Running")
                && !p.deleting
                && !p.gone
                && p.node.as_ref().is_some_and(|n| !victims.contains(n))
        })
        .count()
}

fn live_running(s: &super::cluster::WatchState) -> usize {
    s.pods
        .values()
        .filter(|p| p.phase.as_deref() == Some("Running") && !p.deleting && !p.gone)
        .count()
}

/// A process's resident memory split into anonymous and file-backed pages, MiB
/// (`RssAnon`, `RssFile` of /proc/PID/status).
fn rss_parts_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("RssAnon:")?, field("RssFile:")?))
}

pub async fn run(args: ControllersBenchArgs) -> Result<()> {
    if args.victims == 0 || args.victims >= args.nodes {
        bail!("--victims must be at least 1 and fewer than --nodes");
    }
    let tmp = tempfile::Builder::new()
        .prefix("bosun-bench-controllers-")
        .tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    println!(
        "bosun bench controllers: {} simulated nodes ({} in a separate agent to kill), a Deployment scaled 0 → {}; grace {} s, tolerationSeconds {} s",
        args.nodes, args.victims, args.replicas, args.grace_s, args.toleration_s
    );
    let mut cluster = Cluster::start(&exe, &dir, 1).await?;
    let kubeconfig = cluster.kubeconfig(0).to_path_buf();
    let others = args.nodes - args.victims;
    cluster.spawn(
        "agent",
        &sim_agent_args("sim", others, &kubeconfig, &dir, args.lease_interval_s),
    )?;
    cluster.spawn(
        "victim-agent",
        &sim_agent_args("victim", args.victims, &kubeconfig, &dir, 1),
    )?;
    let kc = kubeconfig.display().to_string();
    let sched: Vec<String> = ["scheduler", "--kubeconfig", &kc, "--leader-elect", "false"]
        .into_iter()
        .map(String::from)
        .collect();
    cluster.spawn("scheduler", &sched)?;
    let grace = args.grace_s.to_string();
    let toleration = args.toleration_s.to_string();
    let cm: Vec<String> = [
        "controller-manager",
        "--kubeconfig",
        &kc,
        "--leader-elect",
        "false",
        "--node-monitor-grace-period-s",
        &grace,
        "--default-toleration-s",
        &toleration,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    cluster.spawn("controller-manager", &cm)?;
    cluster.wait_nodes(args.nodes).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Scale a Deployment from 0 to R.
    let client = crate::kube_client::from_kubeconfig(&kubeconfig).await?;
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "bench-deploy"}},
            "template": {
                "metadata": {"labels": {"app": "bench-deploy"}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "app", "image": "pause:3.10",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
            }
        }
    }))?;
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .context("create the Deployment")?;
    // Let the Deployment controller create the (empty) ReplicaSet first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let watch = PodWatch::start(cluster.new_client(0)?, LABEL).await?;
    let t0 = Instant::now();
    deployments
        .patch(
            "bench",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": args.replicas}})),
        )
        .await
        .context("scale the Deployment")?;
    let want = args.replicas;
    watch
        .wait(
            "scale-up",
            Duration::from_secs(300 + want as u64 / 10),
            |s| live_running(s) >= want,
            |s| {
                format!(
                    "{} created, {} bound, {} Running",
                    s.pods.len(),
                    s.bound,
                    s.running
                )
            },
        )
        .await?;
    let (seen, bound, running): (Vec<Instant>, Vec<Instant>, Vec<Instant>) = watch.with(|s| {
        (
            s.pods.values().filter_map(|p| p.seen).collect(),
            s.pods.values().filter_map(|p| p.bound).collect(),
            s.pods.values().filter_map(|p| p.running).collect(),
        )
    });
    let last = |v: &[Instant]| {
        v.iter()
            .max()
            .map_or(0.0, |t| t.duration_since(t0).as_secs_f64())
    };
    let running_s = last(&running);
    let (created_per_s, bound_per_s, running_per_s) =
        (stage_rate(&seen), stage_rate(&bound), stage_rate(&running));
    println!(
        "scale 0 → {want}: all Running {running_s:.1} s after the scale request (last created at {:.1} s, last bound at {:.1} s)",
        last(&seen),
        last(&bound)
    );
    println!(
        "  stage rates (first to last event of each stage, on a watch): created {created_per_s:.0}/s, bound {bound_per_s:.0}/s, Running {running_per_s:.0}/s"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cm_pid = cluster.pid("controller-manager");
    let rss = cm_pid.and_then(rss_mb).unwrap_or_default();
    let (anon, file) = cm_pid.and_then(rss_parts_mb).unwrap_or_default();
    println!(
        "controller-manager RSS holding {want} pods on {} nodes: {rss:.1} MiB ({anon:.1} MiB anonymous, {file:.1} MiB file-backed: the bosun binary's pages, shared with the other components)",
        args.nodes
    );

    // Self-healing: kill the victims' agent; time until R pods run on the other nodes.
    let victims: Vec<String> = (0..args.victims).map(|i| format!("victim-{i}")).collect();
    let on_victims = watch.with(|s| want - running_elsewhere(s, &victims));
    let before: std::collections::HashSet<String> =
        watch.with(|s| s.pods.keys().cloned().collect());
    let t1 = Instant::now();
    cluster.kill("victim-agent");
    let bound_s = args.grace_s + args.toleration_s + 5;
    watch
        .wait(
            "self-healing",
            Duration::from_secs(bound_s + 120),
            |s| running_elsewhere(s, &victims) >= want,
            |s| {
                format!(
                    "{} of {want} Running off the lost nodes",
                    running_elsewhere(s, &victims)
                )
            },
        )
        .await?;
    let heal_s = t1.elapsed().as_secs_f64();
    // Where the time went: evictions seen, replacements created, bound, Running.
    let stages = watch.with(|s| {
        let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(t1).as_secs_f64());
        let evicted = s
            .pods
            .values()
            .filter(|p| p.node.as_ref().is_some_and(|n| victims.contains(n)))
            .filter_map(|p| since(p.deleting_at))
            .fold(0.0f64, f64::max);
        let new: Vec<&super::cluster::PodTimes> = s
            .pods
            .iter()
            .filter(|(n, _)| !before.contains(*n))
            .map(|(_, p)| p)
            .collect();
        let last = |f: fn(&super::cluster::PodTimes) -> Option<Instant>| {
            new.iter()
                .filter_map(|p| since(f(p)))
                .fold(0.0f64, f64::max)
        };
        (
            evicted,
            new.len(),
            last(|p| p.seen),
            last(|p| p.bound),
            last(|p| p.running),
        )
    });
    println!(
        "  after the kill: evictions seen by {:.1} s; {} replacements created by {:.1} s, bound by {:.1} s, Running by {:.1} s",
        stages.0, stages.1, stages.2, stages.3, stages.4
    );
    println!(
        "self-healing: {on_victims} pods on {} killed node(s) Running elsewhere {heal_s:.1} s after the kill (grace {} s + tolerationSeconds {} s + 5 s = {bound_s} s)",
        args.victims, args.grace_s, args.toleration_s
    );
    drop(watch);
    drop(cluster);
    println!(
        "{}",
        json!({
            "running_10k_s": r1(running_s),
            "created_per_s": r1(created_per_s),
            "bound_per_s": r1(bound_per_s),
            "running_per_s": r1(running_per_s),
            "heal_s": r1(heal_s),
            "heal_bound_s": bound_s,
            "rss_mb": r1(rss),
            "rss_anon_mb": r1(anon),
            "nodes": args.nodes,
            "replicas": want,
        })
    );
    Ok(())
}
