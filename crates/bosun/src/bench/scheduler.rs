//! `bosun bench scheduler`: the scheduler against a real control plane. Starts three
//! `bosun apiserver` replicas on one embedded raft group and a simulating node agent standing
//! for many identical nodes, as child processes, and measures over HTTPS: the store's raw write
//! rate (ConfigMap creates, the anchor); the rate at which `bosun scheduler`, started facing a
//! backlog of pending pods, binds them (as kube-scheduler's scheduler_perf measures scheduling
//! throughput: the pods' creation is not the scheduler's work); pod created → bound latency at a
//! steady rate; the scheduler's memory holding every node and pod; and how evenly
//! LeastAllocated spreads the pods' CPU requests over identical nodes.

use super::cluster::{Cluster, PodWatch, create_many, sim_agent_args};
use super::cpu::{CpuSampler, per_write};
use super::stats::{
    ideal_spread_pct, peak_rss_mb, percentile_by_second_ms, percentile_ms, r1, rss_mb, spread_pct,
};
use anyhow::{Result, bail};
use clap::Args;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct SchedulerBenchArgs {
    /// Simulated nodes (identical: 64 CPUs, 256 GiB, 110 pods each).
    #[arg(long, default_value_t = 5_000)]
    pub nodes: usize,
    /// Pods for the throughput phase (and ConfigMaps for the store's write rate).
    #[arg(long, default_value_t = 50_000)]
    pub pods: usize,
    /// Concurrent clients creating pods and ConfigMaps.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Pods created per second in the latency phase.
    #[arg(long, default_value_t = 500)]
    pub rate: usize,
    /// Seconds the latency phase lasts.
    #[arg(long, default_value_t = 20)]
    pub latency_s: u64,
    /// API server replicas (members of one raft group).
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Keep the simulating agent running, so that every bound pod is also reported Running
    /// (a status write per pod beside the scheduler's). By default the agent is stopped once
    /// its nodes are registered: the nodes stay Ready objects, as in kube-scheduler's
    /// scheduler_perf, and the API server's writes are the creates, bindings and Events alone.
    #[arg(long)]
    pub agent: bool,
    /// Bindings the scheduler keeps in flight (default: the scheduler's own default).
    #[arg(long)]
    pub bind_concurrency: Option<usize>,
    /// Where data dirs and logs go (default: a fresh temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// CPU each benchmark pod requests, millicores.
const POD_CPU_MILLI: f64 = 100.0;

fn pod(name: &str, phase: &str) -> (String, Value) {
    (
        "/api/v1/namespaces/default/pods".into(),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"bench": "sched", "phase": phase}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "app", "image": "pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}),
    )
}

pub async fn run(args: SchedulerBenchArgs) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("bosun-bench-scheduler-")
        .tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    println!(
        "bosun bench scheduler: {} simulated nodes, {} pods, {} clients, {} pods/s for {} s; {} API servers on one raft group, HTTPS on loopback{}",
        args.nodes,
        args.pods,
        args.clients,
        args.rate,
        args.latency_s,
        args.replicas,
        if args.agent {
            "; agent running"
        } else {
            "; agent stopped after registration"
        }
    );
    let mut cluster = Cluster::start(&exe, &dir, args.replicas).await?;
    let r = cluster.apis.len();

    // Nodes: one simulating agent. No node lifecycle controller runs here, so nothing reads
    // the Leases: they are renewed rarely so the renewals do not compete with the work.
    let agent_args = sim_agent_args("sim", args.nodes, cluster.kubeconfig(1 % r), &dir, 3600);
    cluster.spawn("agent", &agent_args)?;
    cluster.wait_nodes(args.nodes).await?;
    if !args.agent {
        // Let the first round of Lease creates finish.
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.kill("agent");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Each process's CPU per write in the two phases (the benchmark's own process stands
    // for the clients creating ConfigMaps, then for the watch that sees the bindings).
    let mut processes = cluster.processes();
    processes.push(("bench".into(), std::process::id()));
    let sampler = CpuSampler::start(processes, Duration::from_millis(250));

    // (b) The anchor: the store's write rate through the same API servers, same clients.
    let anchor_start = Instant::now();
    let (cm_ok, store_writes_per_s, _) = create_many(&cluster.apis, args.pods, args.clients, |i| {
        (
            "/api/v1/namespaces/default/configmaps".into(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("anchor-{i}")}, "data": {"k": "v"}}),
        )
    })
    .await;
    let anchor_end = Instant::now();
    println!(
        "store writes (ConfigMap creates, {} clients over {r} API servers): {store_writes_per_s:.0}/s ({cm_ok} of {} succeeded)",
        args.clients, args.pods
    );
    // Let the last sample after the phase be taken before anything else runs.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // (a) Throughput: a backlog of pending pods, then the scheduler starts and binds them.
    let watch = PodWatch::start(cluster.new_client(2 % r)?, "bench%3Dsched").await?;
    let (created, create_rate, _) = create_many(&cluster.apis, args.pods, args.clients, |i| {
        pod(&format!("a-{i}"), "throughput")
    })
    .await;
    println!("  {created} pods created, pending ({create_rate:.0}/s); starting the scheduler");
    let mut sched_args: Vec<String> = [
        "scheduler",
        "--kubeconfig",
        &cluster.kubeconfig(0).display().to_string(),
        "--leader-elect",
        "false",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    if let Some(n) = args.bind_concurrency {
        sched_args.extend(["--bind-concurrency".into(), n.to_string()]);
    }
    let t0 = Instant::now();
    let scheduler_pid = cluster.spawn("scheduler", &sched_args)?;
    sampler.add("scheduler", scheduler_pid);
    watch
        .wait(
            "binding",
            Duration::from_secs(300 + args.pods as u64 / 20),
            |s| s.bound >= created,
            |s| format!("{} of {created} bound", s.bound),
        )
        .await?;
    let (first_bound, last_bound) = watch.with(|s| {
        let bound = || {
            s.pods
                .iter()
                .filter(|(n, _)| n.starts_with("a-"))
                .filter_map(|(_, p)| p.bound)
        };
        (bound().min(), bound().max())
    });
    let (Some(first_bound), Some(last_bound)) = (first_bound, last_bound) else {
        bail!("no pod was bound");
    };
    let span = last_bound
        .duration_since(first_bound)
        .as_secs_f64()
        .max(1e-3);
    let pods_per_s = created as f64 / span;
    let ratio = if store_writes_per_s > 0.0 {
        pods_per_s / store_writes_per_s
    } else {
        0.0
    };
    println!(
        "throughput: {created} pods bound in {span:.1} s from the first binding to the last: {pods_per_s:.0} pods/s; ÷ store writes/s = {ratio:.2}"
    );
    // CPU per write in each phase: the binding phase counted from the first binding to the
    // last, as its rate is.
    let (anchor_line, anchor_ms) = per_write(&sampler.between(anchor_start, anchor_end), cm_ok);
    let (binding_line, binding_ms) = per_write(&sampler.between(first_bound, last_bound), created);
    println!(
        "  CPU per write, ms: store writes: {anchor_line}; bindings: {binding_line}; the ratio of the two {:.2}",
        if binding_ms > 0.0 {
            anchor_ms / binding_ms
        } else {
            0.0
        }
    );
    // Every binding's Scheduled Event is best effort (one writer, a bounded queue): the store
    // writes of the phase are the bindings and the Events written.
    let events = scheduled_events(&cluster.apis[0]).await;
    println!(
        "  Scheduled Events written by the last binding (+ up to 1,000 queued then): {}",
        events.map_or_else(|e| format!("unknown ({e:#})"), |n| n.to_string())
    );
    println!(
        "  (the scheduler process started {:.1} s before the first binding: start, leader-free sync of {} nodes and {created} pods; {:.0} pods/s counted from its start)",
        first_bound.duration_since(t0).as_secs_f64(),
        args.nodes,
        created as f64 / last_bound.duration_since(t0).as_secs_f64()
    );

    // (e) Placement: CPU requested on each node by the throughput pods (identical nodes).
    let per_node: HashMap<String, usize> = watch.with(|s| {
        let mut m = HashMap::new();
        for (name, p) in &s.pods {
            if name.starts_with("a-")
                && let Some(node) = &p.node
            {
                *m.entry(node.clone()).or_insert(0) += 1;
            }
        }
        m
    });
    let cpu: Vec<f64> = (0..args.nodes)
        .map(|i| per_node.get(&format!("sim-{i}")).copied().unwrap_or(0) as f64 * POD_CPU_MILLI)
        .collect();
    let spread = spread_pct(&cpu);
    let (min, max) = per_node_range(&cpu);
    println!(
        "placement (LeastAllocated, identical nodes): {:.0}–{:.0} m CPU requested per node, max deviation from the mean {spread:.1} % (the least possible here: {:.1} %)",
        min,
        max,
        ideal_spread_pct(created, args.nodes)
    );
    if per_node.keys().any(|n| !n.starts_with("sim-")) {
        bail!("pods were bound to nodes the benchmark did not start");
    }

    // (c) Latency at a steady rate (open loop): request sent → bound seen on the watch.
    let total = args.rate * args.latency_s as usize;
    let period = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut handles = Vec::with_capacity(total);
    let phase_start = Instant::now();
    let phase_start_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    for i in 0..total {
        tick.tick().await;
        let api = cluster.apis[i % r].clone();
        handles.push(tokio::spawn(async move {
            let name = format!("l-{i}");
            let (path, body) = pod(&name, "latency");
            let at = Instant::now();
            api.post(&path, &body).await.ok()?;
            Some((name, at, Instant::now()))
        }));
    }
    let mut sent = Vec::with_capacity(total);
    for h in handles {
        if let Ok(Some(s)) = h.await {
            sent.push(s);
        }
    }
    let want = created + sent.len();
    watch
        .wait(
            "binding (latency phase)",
            Duration::from_secs(120),
            |s| s.bound >= want,
            |s| format!("{} of {want} bound", s.bound),
        )
        .await?;
    // Each pod's times: request sent, create answered, seen on the watch, bound seen.
    let times: Vec<[Instant; 4]> = watch.with(|s| {
        sent.iter()
            .filter_map(|(n, at, answered)| {
                let t = s.pods.get(n)?;
                Some([*at, *answered, t.seen?, t.bound?])
            })
            .collect()
    });
    let span = |from: usize, to: usize| -> (f64, f64) {
        let mut d: Vec<Duration> = times
            .iter()
            .map(|t| t[to].saturating_duration_since(t[from]))
            .collect();
        (percentile_ms(&mut d, 50.0), percentile_ms(&mut d, 99.0))
    };
    let (p50, p99) = span(0, 3);
    println!(
        "latency at {} pods/s for {} s ({} pods created): created → bound seen on a watch p50 {p50:.1} ms, p99 {p99:.1} ms",
        args.rate,
        args.latency_s,
        sent.len()
    );
    let by_second: Vec<(Duration, Duration)> = times
        .iter()
        .map(|t| {
            (
                t[0].saturating_duration_since(phase_start),
                t[3].saturating_duration_since(t[0]),
            )
        })
        .collect();
    let by_second = percentile_by_second_ms(&by_second, 99.0);
    println!(
        "  p99 by second of the phase (started at unix time {phase_start_unix:.3}): {}",
        by_second
            .iter()
            .map(|ms| format!("{ms:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Where the time goes: the create (one store write), the create reaching a watch, and the
    // scheduler's part (its watch, the decision, the binding's store write, the watch again).
    let (answered50, answered99) = span(0, 1);
    let (seen50, seen99) = span(0, 2);
    let (sched50, sched99) = span(2, 3);
    println!(
        "  p50 / p99: create answered {answered50:.1} / {answered99:.1} ms; created seen on a watch {seen50:.1} / {seen99:.1} ms; seen → bound seen {sched50:.1} / {sched99:.1} ms"
    );

    // (d) The scheduler's memory with every node and pod cached.
    // (jemalloc gives memory freed after the backlog back to the system within 10 s.)
    tokio::time::sleep(Duration::from_secs(11)).await;
    let pid = cluster.pid("scheduler");
    let rss = pid.and_then(rss_mb).unwrap_or_default();
    let peak = pid.and_then(peak_rss_mb).unwrap_or_default();
    println!(
        "scheduler RSS holding {} nodes and {want} pods: {rss:.1} MiB (peak {peak:.1} MiB, with the {} pending pods of the throughput phase queued at once)",
        args.nodes, args.pods
    );
    drop(watch);
    drop(cluster);
    println!(
        "{}",
        json!({
            "pods_per_s": r1(pods_per_s),
            "store_writes_per_s": r1(store_writes_per_s),
            "ratio": (ratio * 100.0).round() / 100.0,
            "latency_p50_ms": r1(p50),
            "latency_p99_ms": r1(p99),
            "create_seen_p99_ms": r1(seen99),
            "rss_mb": r1(rss),
            "peak_rss_mb": r1(peak),
            "spread_pct": r1(spread),
            "cpu_ms_per_store_write": (anchor_ms * 1000.0).round() / 1000.0,
            "cpu_ms_per_binding": (binding_ms * 1000.0).round() / 1000.0,
            "nodes": args.nodes,
            "pods": created,
            "agent": args.agent,
        })
    );
    Ok(())
}

/// How many Events with reason Scheduled the namespace `default` holds.
async fn scheduled_events(api: &super::api::ApiClient) -> Result<usize> {
    let (status, body) = api
        .get("/api/v1/namespaces/default/events?fieldSelector=reason%3DScheduled")
        .await?;
    if !status.is_success() {
        bail!("listing Events: {status}");
    }
    let list: Value = serde_json::from_slice(&body)?;
    Ok(list["items"].as_array().map_or(0, Vec::len))
}

fn per_node_range(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(*v), hi.max(*v))
    })
}
