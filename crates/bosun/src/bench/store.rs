//! `bosun bench store`: the same workload against a 3-member raft group (bosun's default store,
//! each member its own process) and a 3-member etcd cluster, both on loopback with fsync on.
//!
//! Phases: `--writes` creates of `--value-size` bytes from `--clients` concurrent clients, then
//! `--reads` linearizable point reads; the resident memory of each member then (it holds
//! `--writes` keys); finally, for raft, writers keep going while the leader is killed with
//! SIGKILL, and the gap until writes are acknowledged again is measured.

use super::stats::{percentile_ms, r1, rss_mb};
use super::{Children, free_port};
use anyhow::{Context, Result, bail};
use bosun_store::{Consistency, Op, RangeRequest, Store, Txn};
use bosun_store_raft::{MemberStatus, RaftClient};
use bytes::Bytes;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Args, Clone)]
pub struct StoreBenchArgs {
    /// Keys written (each a create of a new key).
    #[arg(long, default_value_t = 100_000)]
    pub writes: usize,
    /// Linearizable point reads after the writes.
    #[arg(long, default_value_t = 100_000)]
    pub reads: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 1024)]
    pub value_size: usize,
    /// Where data dirs go (default: a fresh temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Extra flags for every raft member (`bosun store member`), e.g. `--raft-flag=--heartbeat-ms=50`.
    #[arg(long = "raft-flag", allow_hyphen_values = true)]
    pub raft_flags: Vec<String>,
    /// The etcd binary.
    #[arg(long, env = "BOSUN_ETCD_BIN", default_value = "etcd")]
    pub etcd_bin: String,
}

/// What one backend did.
#[derive(Debug, Default, Clone)]
struct Figures {
    writes_per_s: f64,
    write_p50_ms: f64,
    write_p99_ms: f64,
    write_errors: usize,
    reads_per_s: f64,
    read_p99_ms: f64,
    max_rss_mb: f64,
}

/// A client of either backend.
#[derive(Clone)]
enum Target {
    Raft(RaftClient),
    Store(Arc<dyn Store>),
}

impl Target {
    async fn put(&self, key: Bytes, value: Bytes) -> bosun_store::Result<()> {
        match self {
            Target::Raft(c) => c
                .txn(&Txn::new().and_then([Op::put(key, value)]))
                .await
                .map(|_| ()),
            Target::Store(s) => s.put(key, value).await.map(|_| ()),
        }
    }
    async fn get(&self, key: Bytes) -> bosun_store::Result<bool> {
        match self {
            Target::Raft(c) => c
                .range(&RangeRequest::prefix(key).with_limit(1))
                .await
                .map(|r| !r.kvs.is_empty()),
            Target::Store(s) => s
                .get(&key, Consistency::Linearizable)
                .await
                .map(|kv| kv.is_some()),
        }
    }
}

fn key(i: usize) -> Bytes {
    Bytes::from(format!("/registry/bench/{i:08}"))
}

/// Run the write and read phases against `target`.
async fn workload(target: &Target, args: &StoreBenchArgs) -> Figures {
    let value = Bytes::from(vec![b'v'; args.value_size]);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..args.clients)
        .map(|_| {
            let (target, value, next, errors, n) = (
                target.clone(),
                value.clone(),
                next.clone(),
                errors.clone(),
                args.writes,
            );
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return lat;
                    }
                    let t = Instant::now();
                    match target.put(key(i), value.clone()).await {
                        Ok(()) => lat.push(t.elapsed()),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(args.writes);
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    let write_secs = start.elapsed().as_secs_f64();

    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..args.clients)
        .map(|_| {
            let (target, next, n, keys) =
                (target.clone(), next.clone(), args.reads, args.writes.max(1));
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let t = Instant::now();
                    if let Ok(true) = target.get(key(rand::random_range(0..keys))).await {
                        lat.push(t.elapsed());
                    }
                }
                lat
            })
        })
        .collect();
    let mut read_lat = Vec::with_capacity(args.reads);
    for t in tasks {
        read_lat.extend(t.await.unwrap_or_default());
    }
    let read_secs = start.elapsed().as_secs_f64();
    Figures {
        writes_per_s: lat.len() as f64 / write_secs,
        write_p50_ms: percentile_ms(&mut lat, 50.0),
        write_p99_ms: percentile_ms(&mut lat, 99.0),
        write_errors: errors.load(Ordering::Relaxed),
        reads_per_s: read_lat.len() as f64 / read_secs,
        read_p99_ms: percentile_ms(&mut read_lat, 99.0),
        max_rss_mb: 0.0,
    }
}

/// Start a 3-member raft group as child processes of this binary.
async fn start_raft(dir: &Path, extra: &[String]) -> Result<(Children, Vec<String>)> {
    let exe = std::env::current_exe().context("locate the bosun binary")?;
    let addrs: Vec<String> = (0..3)
        .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
        .collect::<Result<_>>()?;
    let initial = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let mut children = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let id = i + 1;
        let log = std::fs::File::create(dir.join(format!("raft-{id}.log")))?;
        let child = Command::new(&exe)
            .args([
                "store",
                "member",
                "--cluster",
                "bench",
                "--id",
                &id.to_string(),
                "--listen",
                addr,
            ])
            .args(["--initial-members", &initial])
            .args(extra)
            .arg("--data-dir")
            .arg(dir.join(format!("raft-{id}")))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start a raft member")?;
        children.push(Some(child));
    }
    let children = Children(children);
    wait_raft_leader(&addrs, Duration::from_secs(20)).await?;
    Ok((children, addrs))
}

async fn raft_status(addr: &str) -> Option<MemberStatus> {
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/status"))
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .ok()?;
    resp.json().await.ok()
}

/// The index (into `addrs`) of the member that the live members agree is leader.
async fn wait_raft_leader(addrs: &[String], timeout: Duration) -> Result<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        for a in addrs {
            if let Some(s) = raft_status(a).await
                && s.leader == Some(s.id)
            {
                return Ok(s.id as usize - 1);
            }
        }
        if Instant::now() > deadline {
            bail!("the raft group elected no leader within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Keep writing while the leader is killed; the time from the kill until a write issued after
/// it is acknowledged.
async fn failover(client: &RaftClient, children: &mut Children, addrs: &[String]) -> Result<f64> {
    let leader = wait_raft_leader(addrs, Duration::from_secs(10)).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let kill_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let first_after: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (client, stop, kill_at, first_after) = (
                client.clone(),
                stop.clone(),
                kill_at.clone(),
                first_after.clone(),
            );
            tokio::spawn(async move {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let started = Instant::now();
                    let txn =
                        Txn::new().and_then([Op::put(format!("/registry/failover/{w}/{i}"), "x")]);
                    if client.txn(&txn).await.is_ok() {
                        let killed = *kill_at.lock().unwrap_or_else(|p| p.into_inner());
                        if killed.is_some_and(|k| started >= k) {
                            let mut f = first_after.lock().unwrap_or_else(|p| p.into_inner());
                            if f.is_none() {
                                *f = Some(Instant::now());
                            }
                        }
                    } else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Some(child) = children.0[leader].as_mut() {
        child.kill().context("kill the leader")?; // SIGKILL
        *kill_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let _ = child.wait();
    }
    children.0[leader] = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    while first_after
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_none()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let killed = kill_at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .context("the leader was not killed")?;
    let resumed = first_after
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .context("writes did not resume within 15 s")?;
    Ok(resumed.duration_since(killed).as_secs_f64() * 1000.0)
}

pub async fn run(args: StoreBenchArgs) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("bosun-bench-store-")
        .tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    println!(
        "bosun bench store: {} writes of {} B, {} reads, {} clients; 3 members each, fsync on, loopback",
        args.writes, args.value_size, args.reads, args.clients
    );

    // Raft.
    let (mut raft_children, addrs) = start_raft(&dir, &args.raft_flags).await?;
    let raft_client = RaftClient::new("bench", addrs.clone());
    let mut raft = workload(&Target::Raft(raft_client.clone()), &args).await;
    let pids: Vec<u32> = raft_children.0.iter().flatten().map(|c| c.id()).collect();
    raft.max_rss_mb = pids.iter().filter_map(|p| rss_mb(*p)).fold(0.0, f64::max);
    print_figures("raft (bosun)", &raft);

    // etcd.
    let etcd_dir = dir.join("etcd");
    std::fs::create_dir_all(&etcd_dir)?;
    let etcd_cluster =
        bosun_store_etcd::process::EtcdCluster::start_with_binary(3, &etcd_dir, &args.etcd_bin)
            .await
            .context("start a 3-member etcd cluster")?;
    let etcd_store = bosun_store_etcd::EtcdStore::connect(&etcd_cluster.client_endpoints())
        .await
        .context("connect to etcd")?;
    let mut etcd = workload(&Target::Store(Arc::new(etcd_store)), &args).await;
    etcd.max_rss_mb = etcd_cluster
        .pids()
        .iter()
        .filter_map(|p| rss_mb(*p))
        .fold(0.0, f64::max);
    print_figures("etcd 3.4", &etcd);
    drop(etcd_cluster);

    // Failover (raft).
    let failover_ms = failover(&raft_client, &mut raft_children, &addrs).await?;
    println!(
        "raft failover: writes resumed {failover_ms:.0} ms after the leader was killed (SIGKILL)"
    );
    drop(raft_children);

    let ratio = if etcd.writes_per_s > 0.0 {
        raft.writes_per_s / etcd.writes_per_s
    } else {
        0.0
    };
    println!("ratio raft/etcd writes per second: {ratio:.2}");
    let json = serde_json::json!({
        "writes": args.writes,
        "raft_writes_per_s": r1(raft.writes_per_s),
        "etcd_writes_per_s": r1(etcd.writes_per_s),
        "ratio": (ratio * 100.0).round() / 100.0,
        "raft_p50_ms": r1(raft.write_p50_ms),
        "etcd_p50_ms": r1(etcd.write_p50_ms),
        "raft_p99_ms": r1(raft.write_p99_ms),
        "etcd_p99_ms": r1(etcd.write_p99_ms),
        "raft_reads_per_s": r1(raft.reads_per_s),
        "etcd_reads_per_s": r1(etcd.reads_per_s),
        "failover_ms": r1(failover_ms),
        "rss_100k_keys_mb": r1(raft.max_rss_mb),
        "etcd_rss_100k_keys_mb": r1(etcd.max_rss_mb),
    });
    println!("{json}");
    Ok(())
}

fn print_figures(name: &str, f: &Figures) {
    println!(
        "{name:>13}: {:>8.0} writes/s  p50 {:>6.1} ms  p99 {:>6.1} ms  ({} errors) | {:>8.0} reads/s  p99 {:>6.1} ms | max member RSS {:.1} MiB",
        f.writes_per_s,
        f.write_p50_ms,
        f.write_p99_ms,
        f.write_errors,
        f.reads_per_s,
        f.read_p99_ms,
        f.max_rss_mb
    );
}
