//! What `bench scheduler` and `bench controllers` share: `bosun apiserver` replicas on an
//! embedded raft group started as child processes, the other components beside them, and a
//! watch of pods that timestamps when each pod is first seen, bound and Running.

use super::api::{ApiClient, admin_token};
use super::{Children, free_port};
use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// API server replicas (and later components) running as child processes.
pub(crate) struct Cluster {
    exe: PathBuf,
    pub(crate) dir: PathBuf,
    children: Children,
    /// Each child's name, in the order of `children`.
    names: Vec<String>,
    /// One admin client per replica.
    pub(crate) apis: Vec<ApiClient>,
    /// One admin kubeconfig per replica.
    pub(crate) kubeconfigs: Vec<PathBuf>,
}

impl Cluster {
    /// Start `replicas` API servers, each the member of one embedded raft group, and wait
    /// until each answers an authenticated request.
    pub(crate) async fn start(exe: &Path, dir: &Path, replicas: usize) -> Result<Self> {
        let replicas = replicas.max(1);
        let members: Vec<String> = (0..replicas)
            .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
            .collect::<Result<_>>()?;
        let listens: Vec<String> = (0..replicas)
            .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
            .collect::<Result<_>>()?;
        let initial = members
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{}={m}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Self {
            exe: exe.to_path_buf(),
            dir: dir.to_path_buf(),
            children: Children(Vec::new()),
            names: Vec::new(),
            apis: Vec::new(),
            kubeconfigs: Vec::new(),
        };
        for i in 0..replicas {
            let kubeconfig = dir.join(format!("admin{}.kubeconfig", i + 1));
            let mut args: Vec<String> = vec![
                "apiserver".into(),
                "--id".into(),
                (i + 1).to_string(),
                "--cluster".into(),
                "bench".into(),
                "--listen".into(),
                listens[i].clone(),
                "--member-listen".into(),
                members[i].clone(),
                "--initial-members".into(),
                initial.clone(),
            ];
            for (flag, path) in [
                ("--data-dir", dir.join(format!("store{}", i + 1))),
                ("--pki-dir", dir.join("pki")),
                ("--token-file", dir.join("tokens.csv")),
                ("--kubeconfig", kubeconfig.clone()),
            ] {
                args.push(flag.into());
                args.push(path.display().to_string());
            }
            cluster.spawn(&format!("apiserver{}", i + 1), &args)?;
            cluster.kubeconfigs.push(kubeconfig);
            if i == 0 {
                // The first replica creates the shared PKI and tokens.
                let deadline = Instant::now() + Duration::from_secs(20);
                while !(dir.join("tokens.csv").exists() && dir.join("pki/apiserver.key").exists()) {
                    if Instant::now() > deadline {
                        bail!("the first API server created no PKI");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for (i, listen) in listens.iter().enumerate() {
            loop {
                if Instant::now() > deadline {
                    bail!("API server {} did not become ready", i + 1);
                }
                if let (Ok(token), Ok(ca)) = (
                    admin_token(&cluster.kubeconfigs[i]),
                    std::fs::read_to_string(dir.join("pki/ca.crt")),
                ) {
                    let c = ApiClient::new(&format!("https://{listen}"), &ca, &token)?;
                    if matches!(c.get("/api/v1/namespaces/default").await, Ok((s, _)) if s.is_success())
                    {
                        cluster.apis.push(c);
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(cluster)
    }

    /// A fresh client (its own connections) of replica `i`.
    pub(crate) fn new_client(&self, i: usize) -> Result<ApiClient> {
        let api = &self.apis[i % self.apis.len()];
        let ca = std::fs::read_to_string(self.dir.join("pki/ca.crt"))?;
        ApiClient::new(&api.base, &ca, &api.token)
    }

    /// The admin kubeconfig of replica `i`.
    pub(crate) fn kubeconfig(&self, i: usize) -> &Path {
        &self.kubeconfigs[i % self.kubeconfigs.len()]
    }

    /// Start `bosun <args>` as the child `name`, its stderr in `<dir>/<name>.log`; its pid.
    pub(crate) fn spawn(&mut self, name: &str, args: &[String]) -> Result<u32> {
        let child = Command::new(&self.exe)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(format!("{name}.log")))?)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        let pid = child.id();
        self.children.0.push(Some(child));
        self.names.push(name.to_string());
        Ok(pid)
    }

    /// The pid of the running child `name`.
    pub(crate) fn pid(&self, name: &str) -> Option<u32> {
        let i = self.names.iter().position(|n| n == name)?;
        self.children.0[i].as_ref().map(|c| c.id())
    }

    /// The running children: (name, pid).
    pub(crate) fn processes(&self) -> Vec<(String, u32)> {
        self.names
            .iter()
            .zip(&self.children.0)
            .filter_map(|(name, c)| Some((name.clone(), c.as_ref()?.id())))
            .collect()
    }

    /// Kill (SIGKILL) and reap the child `name`.
    pub(crate) fn kill(&mut self, name: &str) {
        if let Some(i) = self.names.iter().position(|n| n == name)
            && let Some(mut c) = self.children.0[i].take()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wait until the API has at least `count` nodes (2 minutes, plus a second per 20 nodes to
    /// register), and say how long it took.
    pub(crate) async fn wait_nodes(&self, count: usize) -> Result<()> {
        let timeout = Duration::from_secs(120 + count as u64 / 20);
        let started = Instant::now();
        let api = &self.apis[0];
        loop {
            let n = match api.get("/api/v1/nodes").await {
                Ok((s, body)) if s.is_success() => serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["items"].as_array().map(Vec::len))
                    .unwrap_or(0),
                _ => 0,
            };
            if n >= count {
                println!(
                    "{count} nodes registered in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!("only {n} of {count} nodes registered after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for Cluster {
    /// The components stop before the API servers they talk to (the children are killed in
    /// order after this).
    fn drop(&mut self) {
        self.children.0.reverse();
    }
}

/// The arguments of a simulating node agent named `name` standing for `count` identical nodes
/// (`<name>-<i>`), each offering 64 CPUs, 256 GiB and 110 pods.
pub(crate) fn sim_agent_args(
    name: &str,
    count: usize,
    kubeconfig: &Path,
    dir: &Path,
    lease_interval_s: u64,
) -> Vec<String> {
    [
        "node",
        "--name",
        name,
        "--runtime",
        "simulated",
        "--simulate",
        &count.to_string(),
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--data-dir",
        &dir.join(name).display().to_string(),
        "--cpu-milli",
        "64000",
        "--memory-bytes",
        &(256u64 << 30).to_string(),
        "--max-pods",
        "110",
        "--lease-interval-s",
        &lease_interval_s.to_string(),
        "--status-interval-s",
        "3600",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Create `n` objects with `clients` concurrent clients spread over `apis`; `make(i)` gives
/// the collection path and the object. Returns how many succeeded, the rate of successes
/// per second over the whole phase, and for each success its index and the instant just
/// before its request was sent.
pub(crate) async fn create_many(
    apis: &[ApiClient],
    n: usize,
    clients: usize,
    make: impl Fn(usize) -> (String, Value) + Send + Sync + 'static,
) -> (usize, f64, Vec<(usize, Instant)>) {
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients.max(1))
        .map(|c| {
            let (api, next, make) = (apis[c % apis.len()].clone(), next.clone(), make.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return sent;
                    }
                    let (path, body) = make(i);
                    let at = Instant::now();
                    match api.post(&path, &body).await {
                        Ok(_) => sent.push((i, at)),
                        Err(e) => tracing::warn!(error = %e, "create failed"),
                    }
                }
            })
        })
        .collect();
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap_or_default());
    }
    let rate = sent.len() as f64 / start.elapsed().as_secs_f64();
    (sent.len(), rate, sent)
}

/// What a pod watch saw of one pod, as instants in this process.
#[derive(Debug, Clone, Default)]
pub(crate) struct PodTimes {
    pub(crate) seen: Option<Instant>,
    pub(crate) bound: Option<Instant>,
    pub(crate) running: Option<Instant>,
    pub(crate) node: Option<String>,
    pub(crate) phase: Option<String>,
    pub(crate) deleting: bool,
    /// When the deletion (or the removal) was first seen.
    pub(crate) deleting_at: Option<Instant>,
    pub(crate) gone: bool,
}

/// Every pod a watch saw, by name, and how many were ever bound / Running.
#[derive(Debug, Default)]
pub(crate) struct WatchState {
    pub(crate) pods: HashMap<String, PodTimes>,
    pub(crate) bound: usize,
    pub(crate) running: usize,
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: MiniPod,
}

#[derive(Deserialize, Default)]
struct MiniPod {
    #[serde(default)]
    metadata: MiniMeta,
    #[serde(default)]
    spec: MiniSpec,
    #[serde(default)]
    status: MiniStatus,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MiniMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    resource_version: String,
    deletion_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MiniSpec {
    node_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct MiniStatus {
    phase: Option<String>,
}

impl WatchState {
    fn apply(&mut self, ev: WatchEvent, now: Instant) {
        if !matches!(ev.kind.as_str(), "ADDED" | "MODIFIED" | "DELETED") {
            return;
        }
        let pod = ev.object;
        if pod.metadata.name.is_empty() {
            return;
        }
        let t = self.pods.entry(pod.metadata.name).or_default();
        t.seen.get_or_insert(now);
        if let Some(node) = pod.spec.node_name.filter(|n| !n.is_empty()) {
            if t.bound.is_none() {
                t.bound = Some(now);
                self.bound += 1;
            }
            t.node = Some(node);
        }
        if pod.status.phase.as_deref() == Some("Running") && t.running.is_none() {
            t.running = Some(now);
            self.running += 1;
        }
        t.phase = pod.status.phase;
        t.deleting = pod.metadata.deletion_timestamp.is_some();
        if t.deleting || ev.kind == "DELETED" {
            t.deleting_at.get_or_insert(now);
        }
        t.gone = ev.kind == "DELETED";
    }
}

/// A watch of the pods matching a label selector, in `default`, recording [`PodTimes`].
pub(crate) struct PodWatch {
    state: Arc<Mutex<WatchState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PodWatch {
    /// Start watching from now (a LIST's resourceVersion) and return once the watch is open.
    pub(crate) async fn start(api: ApiClient, selector: &str) -> Result<Self> {
        let path = format!("/api/v1/namespaces/default/pods?labelSelector={selector}&limit=1");
        let (status, body) = api.get(&path).await?;
        if !status.is_success() {
            bail!("LIST pods: {status}");
        }
        let rv = serde_json::from_slice::<Value>(&body)?["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string();
        let state = Arc::new(Mutex::new(WatchState::default()));
        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel::<Result<()>>();
        let task = tokio::spawn(watch_loop(
            api,
            selector.to_string(),
            rv,
            state.clone(),
            opened_tx,
        ));
        opened_rx.await.context("the watch task ended")??;
        Ok(Self { state, task })
    }

    /// Read the state.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&WatchState) -> R) -> R {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&state)
    }

    /// Wait until `done` holds of the state; the progress (`progress`) is printed each 10 s.
    pub(crate) async fn wait(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&WatchState) -> bool,
        progress: impl Fn(&WatchState) -> String,
    ) -> Result<()> {
        let started = Instant::now();
        let mut last_print = Instant::now();
        loop {
            if self.with(&done) {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!(
                    "{what}: not done after {timeout:?} ({})",
                    self.with(&progress)
                );
            }
            if last_print.elapsed() > Duration::from_secs(10) {
                last_print = Instant::now();
                println!(
                    "  … {what}: {} after {:.0} s",
                    self.with(&progress),
                    started.elapsed().as_secs_f64()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn watch_loop(
    api: ApiClient,
    selector: String,
    mut rv: String,
    state: Arc<Mutex<WatchState>>,
    opened: tokio::sync::oneshot::Sender<Result<()>>,
) {
    let mut opened = Some(opened);
    loop {
        let url = format!(
            "{}/api/v1/namespaces/default/pods?watch=true&labelSelector={selector}&resourceVersion={rv}&timeoutSeconds=3600",
            api.base
        );
        let resp = api
            .http
            .get(url)
            .bearer_auth(&api.token)
            .timeout(Duration::from_secs(7200))
            .send()
            .await;
        let resp = match resp {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let msg = format!("watch pods: {}", r.status());
                match opened.take() {
                    Some(tx) => {
                        let _ = tx.send(Err(anyhow::anyhow!(msg)));
                        return;
                    }
                    None => {
                        eprintln!("{msg}; the watch stops");
                        return;
                    }
                }
            }
            Err(e) => {
                if let Some(tx) = opened.take() {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if let Some(tx) = opened.take() {
            let _ = tx.send(Ok(()));
        }
        let mut stream = resp.bytes_stream();
        let mut buf = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            let now = Instant::now();
            buf.extend_from_slice(&chunk);
            let mut start = 0;
            let mut events = Vec::new();
            while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
                if let Ok(ev) = serde_json::from_slice::<WatchEvent>(&buf[start..start + pos]) {
                    events.push(ev);
                }
                start += pos + 1;
            }
            buf.drain(..start);
            if events.is_empty() {
                continue;
            }
            let mut st = state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for ev in events {
                if !ev.object.metadata.resource_version.is_empty() {
                    rv = ev.object.metadata.resource_version.clone();
                }
                st.apply(ev, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, pod: serde_json::Value) -> WatchEvent {
        serde_json::from_value(serde_json::json!({"type": kind, "object": pod}))
            .expect("a watch event")
    }

    #[test]
    fn a_watch_records_each_stage_once() {
        let mut st = WatchState::default();
        let t0 = Instant::now();
        st.apply(
            ev("ADDED", serde_json::json!({"metadata": {"name": "p"}})),
            t0,
        );
        let t1 = t0 + Duration::from_millis(5);
        st.apply(
            ev(
                "MODIFIED",
                serde_json::json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}}),
            ),
            t1,
        );
        let t2 = t1 + Duration::from_millis(5);
        let running = serde_json::json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        st.apply(ev("MODIFIED", running.clone()), t2);
        st.apply(ev("MODIFIED", running), t2 + Duration::from_secs(1));
        st.apply(
            ev(
                "BOOKMARK",
                serde_json::json!({"metadata": {"resourceVersion": "9"}}),
            ),
            t2,
        );
        let p = &st.pods["p"];
        assert_eq!((p.seen, p.bound, p.running), (Some(t0), Some(t1), Some(t2)));
        assert_eq!(p.node.as_deref(), Some("n1"));
        assert_eq!((st.bound, st.running, st.pods.len()), (1, 1, 1));
        st.apply(
            ev(
                "MODIFIED",
                serde_json::json!({"metadata": {"name": "p", "deletionTimestamp": "2026-11-27T00:00:00Z"}, "spec": {"nodeName": "n1"}}),
            ),
            t2,
        );
        assert!(st.pods["p"].deleting && !st.pods["p"].gone);
    }
}
