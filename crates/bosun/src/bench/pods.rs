//! `bosun bench pods`: pod startup on the process runtime (a pod created bound to a node →
//! Running visible through a watch), the node agent's memory idle and running 100 pods, and
//! one simulating agent holding many nodes and pods: its memory, the rate at which it turns
//! bound pods Running, and how fast a few more pods start on it once it is loaded.

use super::stats::{percentile_ms, r1, rss_mb, stage_rate};
use super::{Children, free_port};
use anyhow::{Context, Result, bail};
use clap::Args;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct PodsBenchArgs {
    /// Pods for the startup measurement, spread over the nodes.
    #[arg(long, default_value_t = 100)]
    pub pods: usize,
    /// Node agents on the process runtime.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Simulated nodes in one agent process.
    #[arg(long, default_value_t = 1000)]
    pub sim_nodes: usize,
    /// Pods on the simulated nodes.
    #[arg(long, default_value_t = 30000)]
    pub sim_pods: usize,
    /// Keep the cluster's files here instead of a temporary directory.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

fn pod(name: &str, node: &str) -> Pod {
    let value = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "pods"}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "sleep", "command": ["sleep", "3600"]}]
        }
    });
    serde_json::from_value(value).unwrap_or_default()
}

/// What [`startup`] saw.
struct Startup {
    /// Per pod: its create returning → its Running phase arriving on a watch.
    latencies: Vec<Duration>,
    /// When each pod was first seen Running.
    running_at: Vec<Instant>,
}

/// Create pods bound to nodes (`name` → node), `concurrency` at a time, and time each from
/// its create returning to its Running phase arriving on a watch.
async fn startup(
    client: &kube::Client,
    pods: Vec<(String, String)>,
    concurrency: usize,
    timeout: Duration,
) -> Result<Startup> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let running: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let names: std::collections::HashSet<String> = pods.iter().map(|(n, _)| n.clone()).collect();
    let watch = {
        let running = running.clone();
        let stream = watcher(api.clone(), watcher::Config::default().labels("bench=pods"));
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(ev)) = stream.next().await {
                if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = ev
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    && let Some(n) = p.metadata.name
                    && let Ok(mut r) = running.lock()
                {
                    r.entry(n).or_insert_with(Instant::now);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    futures::stream::iter(pods)
        .map(|(name, node)| {
            let api = api.clone();
            let created = created.clone();
            async move {
                let r = api.create(&PostParams::default(), &pod(&name, &node)).await;
                if let Ok(mut c) = created.lock() {
                    c.insert(name.clone(), Instant::now());
                }
                r.map(|_| ()).with_context(|| format!("create {name}"))
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let deadline = Instant::now() + timeout;
    loop {
        let done = running
            .lock()
            .map(|r| names.iter().filter(|n| r.contains_key(*n)).count())
            .unwrap_or(0);
        if done == names.len() {
            break;
        }
        if Instant::now() > deadline {
            watch.abort();
            bail!(
                "only {done} of {} pods Running after {timeout:?}",
                names.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watch.abort();
    let created = created.lock().map(|c| c.clone()).unwrap_or_default();
    let running = running.lock().map(|r| r.clone()).unwrap_or_default();
    Ok(Startup {
        latencies: names
            .iter()
            .filter_map(|n| Some(running.get(n)?.saturating_duration_since(*created.get(n)?)))
            .collect(),
        running_at: names
            .iter()
            .filter_map(|n| running.get(n).copied())
            .collect(),
    })
}

fn pid_of(data: &Path, component: &str) -> Option<u32> {
    std::fs::read_to_string(data.join("run").join(format!("{component}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn wait_nodes(client: &kube::Client, count: usize, timeout: Duration) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let ready = nodes
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .filter(|n| {
                        n.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|cs| {
                                cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                            })
                    })
                    .count()
            })
            .unwrap_or(0);
        if ready >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {ready} of {count} nodes Ready after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn run(args: PodsBenchArgs) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("bosun-bench-pods-")
        .tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    println!(
        "bosun bench pods: {} pods on {} process-runtime nodes; {} simulated nodes with {} pods",
        args.pods, args.nodes, args.sim_nodes, args.sim_pods
    );
    let port = free_port()?;
    let data = dir.join("up");
    let up = Children(vec![Some(
        Command::new(&exe)
            .args(["up", "--data-dir"])
            .arg(&data)
            .args([
                "--port",
                &port.to_string(),
                "--nodes",
                &args.nodes.to_string(),
                // Kubernetes' grace (40 s) over the simulated nodes' 10 s Leases: with `up`'s
                // development 8 s, they turned NotReady and their pods were evicted mid-run.
                "--node-grace-s",
                "40",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("up.log"))?)
            .spawn()
            .context("start bosun up")?,
    )]);
    let kubeconfig = data.join("kubeconfig");
    let started = Instant::now();
    while !kubeconfig.exists() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("bosun up wrote no kubeconfig within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = crate::kube_client::from_kubeconfig(&kubeconfig).await?;
    wait_nodes(&client, args.nodes, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let agent0 = pid_of(&data, "bosun-node-0").context("no pid for bosun-node-0")?;
    let rss_idle = rss_mb(agent0).unwrap_or(0.0);

    // 1. Startup of pods spread over the nodes.
    let spread: Vec<(String, String)> = (0..args.pods)
        .map(|i| {
            (
                format!("start-{i}"),
                format!("bosun-node-{}", i % args.nodes),
            )
        })
        .collect();
    let mut lat = startup(&client, spread, 32, Duration::from_secs(120))
        .await?
        .latencies;
    let p50 = percentile_ms(&mut lat, 50.0);
    let p99 = percentile_ms(&mut lat, 99.0);
    println!(
        "startup (created bound → Running seen on a watch), {} pods on {} nodes: p50 {p50:.0} ms, p99 {p99:.0} ms",
        args.pods, args.nodes
    );

    // 2. One agent running 100 pods: top node 0 up to 100.
    let on_node0 = args.pods.div_ceil(args.nodes);
    let extra: Vec<(String, String)> = (0..100usize.saturating_sub(on_node0))
        .map(|i| (format!("more-{i}"), "bosun-node-0".to_string()))
        .collect();
    startup(&client, extra, 32, Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_100 = rss_mb(agent0).unwrap_or(0.0);
    println!("node agent RSS: idle {rss_idle:.1} MiB, running 100 pods {rss_100:.1} MiB");

    // 3. One simulating agent: many nodes, many pods.
    let sim_log = std::fs::File::create(dir.join("sim.log"))?;
    let sim = Children(vec![Some(
        Command::new(&exe)
            .args([
                "node",
                "--name",
                "sim",
                "--runtime",
                "simulated",
                "--simulate",
                &args.sim_nodes.to_string(),
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--lease-interval-s", "10", "--status-interval-s", "300"])
            .stdout(Stdio::null())
            .stderr(sim_log)
            .spawn()
            .context("start the simulating agent")?,
    )]);
    let sim_pid = sim
        .0
        .iter()
        .flatten()
        .map(|c| c.id())
        .next()
        .unwrap_or_default();
    wait_nodes(
        &client,
        args.nodes + args.sim_nodes,
        Duration::from_secs(300),
    )
    .await?;
    let sim_pods: Vec<(String, String)> = (0..args.sim_pods)
        .map(|i| {
            (
                format!("sim-{i}"),
                format!("sim-{}", i % args.sim_nodes.max(1)),
            )
        })
        .collect();
    let t = Instant::now();
    let sim_run = startup(&client, sim_pods, 64, Duration::from_secs(600)).await?;
    let sim_running_s = t.elapsed().as_secs_f64();
    let sim_running_per_s = stage_rate(&sim_run.running_at);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sim_rss = rss_mb(sim_pid).unwrap_or(0.0);
    println!(
        "simulating agent: {} nodes, {} pods Running in {sim_running_s:.1} s ({sim_running_per_s:.0} Running/s); RSS {sim_rss:.1} MiB",
        args.sim_nodes, args.sim_pods
    );
    // 4. A few more pods on the loaded simulating agent (as replacements arrive when a node
    // fails): how long until each is Running.
    let late: Vec<(String, String)> = (0..10usize)
        .map(|i| {
            (
                format!("late-{i}"),
                format!("sim-{}", i % args.sim_nodes.max(1)),
            )
        })
        .collect();
    let mut late = startup(&client, late, 10, Duration::from_secs(60))
        .await?
        .latencies;
    let late_p99 = percentile_ms(&mut late, 99.0);
    println!("10 more pods on the loaded simulating agent: p99 {late_p99:.0} ms to Running");
    println!(
        "{}",
        json!({
            "startup_p50_ms": r1(p50),
            "startup_p99_ms": r1(p99),
            "agent_rss_idle_mb": r1(rss_idle),
            "agent_rss_100_pods_mb": r1(rss_100),
            "sim_rss_mb": r1(sim_rss),
            "sim_running_per_s": r1(sim_running_per_s),
            "sim_late_p99_ms": r1(late_p99),
        })
    );
    drop(sim);
    // Stop the cluster and wait for its agents to stop their pods before the temporary
    // directory holding the pods' files goes.
    let agents: Vec<u32> = (0..args.nodes)
        .filter_map(|i| pid_of(&data, &format!("bosun-node-{i}")))
        .collect();
    drop(up);
    let deadline = Instant::now() + Duration::from_secs(30);
    while agents
        .iter()
        .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
