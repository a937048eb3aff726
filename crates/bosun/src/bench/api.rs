//! `bosun bench api`: the API server over HTTPS, as clients see it. Starts `bosun up` (and then
//! three `bosun apiserver` replicas on one raft group) as child processes and measures: time to
//! ready, idle memory, pod creates per second with 64 clients, memory holding the pods, LIST of
//! every pod at resourceVersion=0, mutating latency at a steady 1,000 writes/s, and how fast
//! 1,000 watchers see a change.

use super::cluster::Cluster;
use super::stats::{percentile_ms, r1, rss_mb};
use super::{Children, free_port};
use anyhow::{Context, Result, bail};
use clap::Args;
use futures::StreamExt;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Args, Clone)]
pub struct ApiBenchArgs {
    /// Pods created (and then listed).
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Concurrent clients for the create phases.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Concurrent watchers for the fan-out phase.
    #[arg(long, default_value_t = 1_000)]
    pub watchers: usize,
    /// Writes per second for the latency phase.
    #[arg(long, default_value_t = 1_000)]
    pub rate: usize,
    /// Where data dirs go (default: a fresh temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// An authenticated HTTPS client of one cluster.
#[derive(Clone)]
pub(crate) struct ApiClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) token: String,
}

impl ApiClient {
    pub(crate) fn new(base: &str, ca_pem: &str, token: &str) -> Result<Self> {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).context("CA")?;
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            base: base.to_string(),
            token: token.to_string(),
        })
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Duration> {
        let t = Instant::now();
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("POST {path}: {}", resp.status());
        }
        resp.bytes().await?;
        Ok(t.elapsed())
    }

    pub(crate) async fn get(&self, path: &str) -> Result<(reqwest::StatusCode, bytes::Bytes)> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = resp.status();
        Ok((status, resp.bytes().await?))
    }
}

/// A pod for the API server alone: its schedulerName belongs to no scheduler, so `bosun up`'s
/// scheduler leaves it Pending (as kube-scheduler leaves other schedulers' pods) and no node
/// agent runs it; the figures are the API server's and its store's, not the cluster's.
fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"schedulerName": "bosun-bench-none",
            "containers": [{"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}})
}

pub(crate) fn admin_token(kubeconfig: &Path) -> Result<String> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(kubeconfig)?)?;
    v["users"][0]["user"]["token"]
        .as_str()
        .map(String::from)
        .context("no token in kubeconfig")
}

/// Create `n` pods named `prefix-i` with `clients` concurrent clients spread over `apis`.
async fn create_pods(
    apis: &[ApiClient],
    n: usize,
    clients: usize,
    prefix: &str,
) -> (f64, Vec<Duration>) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (api, next, prefix) = (
                apis[c % apis.len()].clone(),
                next.clone(),
                prefix.to_string(),
            );
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return lat;
                    }
                    if let Ok(d) = api
                        .post(
                            "/api/v1/namespaces/default/pods",
                            &pod(&format!("{prefix}-{i}")),
                        )
                        .await
                    {
                        lat.push(d);
                    }
                }
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    (lat.len() as f64 / start.elapsed().as_secs_f64(), lat)
}

pub async fn run(args: ApiBenchArgs) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("bosun-bench-api-")
        .tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    println!(
        "bosun bench api: {} pods, {} clients, {} watchers, {} writes/s; HTTPS on loopback",
        args.pods, args.clients, args.watchers, args.rate
    );

    // 1. bosun up: time until an authenticated request answers.
    let port = free_port()?;
    let data = dir.join("up");
    let started = Instant::now();
    let child = Children(vec![Some(
        Command::new(&exe)
            .args(["up", "--data-dir"])
            .arg(&data)
            .args(["--port", &port.to_string(), "--nodes", "0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("up.log"))?)
            .spawn()
            .context("start bosun up")?,
    )]);
    let kubeconfig = data.join("kubeconfig");
    let api = loop {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("bosun up did not answer within 30 s");
        }
        if let (Ok(token), Ok(ca)) = (
            admin_token(&kubeconfig),
            std::fs::read_to_string(data.join("pki/ca.crt")),
        ) {
            let api = ApiClient::new(&format!("https://127.0.0.1:{port}"), &ca, &token)?;
            if matches!(api.get("/api/v1/namespaces/default").await, Ok((s, _)) if s.is_success()) {
                break api;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let up_ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    let kubectl_started = Instant::now();
    let kubectl_ok = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "ns", "default", "--cache-dir"])
        .arg(dir.join("kubectl-cache"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    println!(
        "bosun up answered an authenticated request {up_ready_ms:.0} ms after start; `kubectl get ns default` then took {:.0} ms ({})",
        kubectl_started.elapsed().as_secs_f64() * 1000.0,
        if kubectl_ok { "ok" } else { "failed" }
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = child
        .0
        .iter()
        .flatten()
        .map(|c| c.id())
        .next()
        .unwrap_or_default();
    let rss_idle = rss_mb(pid).unwrap_or(0.0);

    // 2. Creates with 64 clients, then memory holding them.
    let (creates_1, mut create_lat) =
        create_pods(std::slice::from_ref(&api), args.pods, args.clients, "p").await;
    let rss_pods = rss_mb(pid).unwrap_or(0.0);
    println!(
        "creates (1-member store): {creates_1:.0}/s, p99 {:.1} ms; RSS idle {rss_idle:.1} MiB, holding {} pods {rss_pods:.1} MiB",
        percentile_ms(&mut create_lat, 99.0),
        args.pods
    );

    // 3. LIST of every pod at resourceVersion=0.
    let mut list_lat = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let (status, body) = api
            .get("/api/v1/namespaces/default/pods?resourceVersion=0")
            .await?;
        list_lat.push(t.elapsed());
        if !status.is_success() || body.len() < args.pods {
            bail!("LIST failed: {status}");
        }
    }
    let list_p99 = percentile_ms(&mut list_lat, 99.0);
    println!(
        "LIST of {} pods at resourceVersion=0: p99 {list_p99:.1} ms",
        args.pods
    );

    // 4. Mutating latency at a steady rate (open loop).
    let mut handles = Vec::new();
    let period = Duration::from_secs_f64(1.0 / args.rate as f64);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..args.rate * 5 {
        tick.tick().await;
        let api = api.clone();
        handles.push(tokio::spawn(async move {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("rate-{i}")}, "data": {"k": "v"}});
            api.post("/api/v1/namespaces/default/configmaps", &cm).await.ok()
        }));
    }
    let mut mut_lat: Vec<Duration> = Vec::new();
    for h in handles {
        if let Ok(Some(d)) = h.await {
            mut_lat.push(d);
        }
    }
    let mutating_p99 = percentile_ms(&mut mut_lat, 99.0);
    println!(
        "mutating latency at {} writes/s: p99 {mutating_p99:.1} ms ({} of {} succeeded)",
        args.rate,
        mut_lat.len(),
        args.rate * 5
    );

    // 5. Watch fan-out: every watcher sees each new object; latency from the create.
    let (_, body) = api
        .get("/api/v1/namespaces/default/configmaps?limit=1")
        .await?;
    let rv = serde_json::from_slice::<Value>(&body)?["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let connections: Vec<ApiClient> = (0..args.watchers.div_ceil(100))
        .map(|_| {
            ApiClient::new(
                &api.base,
                &std::fs::read_to_string(data.join("pki/ca.crt")).unwrap_or_default(),
                &api.token,
            )
        })
        .collect::<Result<_>>()?;
    let mut watchers = Vec::new();
    let ready = Arc::new(AtomicUsize::new(0));
    for w in 0..args.watchers {
        let (client, tx, rv, ready) = (
            connections[w / 100].clone(),
            tx.clone(),
            rv.clone(),
            ready.clone(),
        );
        watchers.push(tokio::spawn(async move {
            let url = format!("{}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=120&labelSelector=fanout%3Dyes", client.base);
            let Ok(resp) = client.http.get(url).bearer_auth(&client.token).timeout(Duration::from_secs(120)).send().await else { return };
            ready.fetch_add(1, Ordering::Relaxed);
            let mut stream = resp.bytes_stream();
            let mut buf = Vec::new();
            while let Some(Ok(chunk)) = stream.next().await {
                let now = Instant::now();
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    if let Ok(ev) = serde_json::from_slice::<Value>(&line)
                        && let Some(name) = ev["object"]["metadata"]["name"].as_str()
                    {
                        let _ = tx.send((name.to_string(), now));
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::Relaxed) < args.watchers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open = ready.load(Ordering::Relaxed);
    let rounds = 10;
    let mut sent = std::collections::HashMap::new();
    for r in 0..rounds {
        let name = format!("fanout-{r}");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"fanout": "yes"}}});
        sent.insert(name, Instant::now());
        api.post("/api/v1/namespaces/default/configmaps", &cm)
            .await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut fan_lat = Vec::new();
    let collect_until = Instant::now() + Duration::from_secs(10);
    while fan_lat.len() < open * rounds {
        let left = collect_until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some((name, at))) => {
                if let Some(t) = sent.get(&name) {
                    fan_lat.push(at.saturating_duration_since(*t));
                }
            }
            _ => break,
        }
    }
    for w in watchers {
        w.abort();
    }
    let fanout_p99 = percentile_ms(&mut fan_lat, 99.0);
    println!(
        "watch fan-out: {open} watchers, {} of {} deliveries, p99 {fanout_p99:.1} ms",
        fan_lat.len(),
        open * rounds
    );
    drop(child);

    // 6. Three replicas on a 3-member raft group.
    let creates_3 = three_replicas(&exe, &dir, &args).await?;
    println!("creates (3-member store, 3 API servers): {creates_3:.0}/s");

    let json = json!({
        "creates_per_s_1": r1(creates_1),
        "creates_per_s_3": r1(creates_3),
        "mutating_p99_ms": r1(mutating_p99),
        "list_10k_p99_ms": r1(list_p99),
        "watch_fanout_p99_ms": r1(fanout_p99),
        "rss_idle_mb": r1(rss_idle),
        "rss_10k_pods_mb": r1(rss_pods),
        "up_ready_ms": r1(up_ready_ms),
        "pods": args.pods,
        "watchers": open,
    });
    println!("{json}");
    Ok(())
}

/// The same pod creates spread over three API servers on one 3-member raft group.
async fn three_replicas(exe: &Path, dir: &Path, args: &ApiBenchArgs) -> Result<f64> {
    let ha = dir.join("ha");
    std::fs::create_dir_all(&ha)?;
    let cluster = Cluster::start(exe, &ha, 3).await?;
    let (rate, _) = create_pods(&cluster.apis, args.pods, args.clients, "ha").await;
    drop(cluster);
    Ok(rate)
}
