//! Real etcd servers on loopback, for tests and benchmarks: [`EtcdCluster::start`] launches
//! `etcd` (Debian's etcd-server 3.4, or `$BOSUN_ETCD_BIN`) with fsync on, waits until the cluster
//! answers, and kills every member when dropped. Members run with `--max-request-bytes=2097152`,
//! which bosun needs of any etcd it uses: etcd's default (1.5 MiB for the whole request) is just
//! short of a value of [`bosun_store::MAX_VALUE_BYTES`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(
        "cannot run {bin:?} ({source}); install etcd (Debian: apt-get install etcd-server) or set BOSUN_ETCD_BIN"
    )]
    Spawn { bin: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "etcd cluster not ready within {timeout:?}; last error: {last}; log tail ({log}):\n{tail}"
    )]
    NotReady {
        timeout: Duration,
        last: String,
        log: PathBuf,
        tail: String,
    },
}

/// One etcd member process.
#[derive(Debug)]
struct Member {
    child: Option<Child>,
    client_url: String,
    log: PathBuf,
}

/// A running etcd cluster; every member is killed on drop.
#[derive(Debug)]
pub struct EtcdCluster {
    members: Vec<Member>,
}

fn free_port() -> Result<u16, std::io::Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The etcd binary: `$BOSUN_ETCD_BIN` or `etcd` on the PATH.
pub fn etcd_binary() -> String {
    std::env::var("BOSUN_ETCD_BIN").unwrap_or_else(|_| "etcd".to_string())
}

impl EtcdCluster {
    /// Start `members` etcd servers with data under `dir`.
    pub async fn start(members: usize, dir: &Path) -> Result<Self, ProcessError> {
        Self::start_with_binary(members, dir, &etcd_binary()).await
    }

    /// Start `members` servers of the etcd binary `bin`.
    pub async fn start_with_binary(
        members: usize,
        dir: &Path,
        bin: &str,
    ) -> Result<Self, ProcessError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ProcessError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let ports: Vec<(u16, u16)> = (0..members)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<Result<_, std::io::Error>>()
            .map_err(io(dir))?;
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("bosun-{}-{}", std::process::id(), rand_suffix());
        let mut cluster = EtcdCluster {
            members: Vec::new(),
        };
        for (i, (client, peer)) in ports.iter().enumerate() {
            let data = dir.join(format!("m{i}"));
            let log = dir.join(format!("m{i}.log"));
            let log_file = std::fs::File::create(&log).map_err(io(&log))?;
            let child = Command::new(bin)
                .arg(format!("--name=m{i}"))
                .arg(format!("--data-dir={}", data.display()))
                .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
                .arg(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
                ))
                .arg(format!("--initial-cluster={initial}"))
                .arg(format!("--initial-cluster-token={token}"))
                .arg("--initial-cluster-state=new")
                // Values up to bosun_store::MAX_VALUE_BYTES (1.5 MiB) plus the request around
                // them; etcd's default limit is exactly 1.5 MiB for the whole request.
                .arg("--max-request-bytes=2097152")
                .arg("--logger=zap")
                .arg("--log-outputs=stderr")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .map_err(|source| ProcessError::Spawn {
                    bin: bin.to_string(),
                    source,
                })?;
            cluster.members.push(Member {
                child: Some(child),
                client_url: format!("http://127.0.0.1:{client}"),
                log,
            });
        }
        cluster.wait_ready(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<(), ProcessError> {
        let deadline = Instant::now() + timeout;
        // Every member must answer a linearizable read (which needs a leader).
        for m in &self.members {
            loop {
                let last = match probe(&m.client_url).await {
                    Ok(()) => break,
                    Err(e) => e,
                };
                if Instant::now() >= deadline {
                    let tail = std::fs::read_to_string(&m.log).unwrap_or_default();
                    let tail: String = tail
                        .lines()
                        .rev()
                        .take(20)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n");
                    return Err(ProcessError::NotReady {
                        timeout,
                        last,
                        log: m.log.clone(),
                        tail,
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// The client URLs of every member.
    pub fn client_endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// The process ids of the running members.
    pub fn pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .filter_map(|m| m.child.as_ref().map(|c| c.id()))
            .collect()
    }

    /// Kill member `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members.get_mut(i).and_then(|m| m.child.take()) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

async fn probe(url: &str) -> Result<(), String> {
    let attempt = async {
        let mut client = etcd_client::Client::connect([url], None)
            .await
            .map_err(|e| e.to_string())?;
        client
            .get("bosun-probe", None)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .unwrap_or_else(|_| Err("probe timed out".into()))
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
