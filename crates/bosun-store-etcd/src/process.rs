//! Real etcd servers on loopback, for tests and benchmarks.
//!
//! [`EtcdCluster::start`] launches `members` etcd processes ([`etcd_binary`]: Debian's
//! etcd-server 3.4 at `/usr/bin/etcd`, or `$BOSUN_ETCD_BIN`) on 127.0.0.1, each with its data
//! directory and its log (stderr, zap format) under the directory it is given, waits until every
//! member answers a linearizable read, and kills every member (SIGKILL, then reaps it) when
//! dropped. fsync stays on, as in production.
//!
//! Ports come from [`crate::ports`] (free when picked, below the ephemeral range) and are
//! released just before etcd binds them; should another process take one in between, the
//! member exits with "address already in use" and the whole cluster is started again on fresh
//! ports (up to three times).
//!
//! Members run with `--max-request-bytes=2097152`, which bosun needs of any etcd it uses: etcd's
//! default (1.5 MiB for the whole request) is just short of a value of
//! [`bosun_store::MAX_VALUE_BYTES`] plus its key and transaction.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The etcd binary used when `$BOSUN_ETCD_BIN` is not set (Debian's `etcd-server` package).
pub const DEFAULT_ETCD_BIN: &str = "/usr/bin/etcd";

/// How long [`EtcdCluster::start`] waits for every member to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How many times a cluster is started on fresh ports when a port was taken meanwhile.
const START_ATTEMPTS: usize = 3;

/// How many lines of a member's log an error quotes.
const LOG_TAIL_LINES: usize = 30;

/// `Result` with the process module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The etcd binary could not be run: it is missing or not executable.
    #[error(
        "cannot run the etcd binary {bin:?}: {source}; install etcd (Debian/Ubuntu: \
         `apt-get install etcd-server`) or set BOSUN_ETCD_BIN to an etcd 3.4+ binary"
    )]
    Spawn { bin: String, source: io::Error },
    /// A directory or log file could not be created, or no loopback port could be reserved.
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// A member exited before the cluster was ready.
    #[error(
        "etcd member {name} exited before the cluster was ready ({status}); log tail ({}):\n{tail}",
        log.display()
    )]
    Exited {
        name: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// A member did not answer a read within [`READY_TIMEOUT`].
    #[error(
        "etcd member {name} did not answer within {timeout:?}; last error: {last}; log tail ({}):\n{tail}",
        log.display()
    )]
    NotReady {
        name: String,
        timeout: Duration,
        last: String,
        log: PathBuf,
        tail: String,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// The etcd binary: `$BOSUN_ETCD_BIN`, else [`DEFAULT_ETCD_BIN`].
pub fn etcd_binary() -> String {
    std::env::var("BOSUN_ETCD_BIN").unwrap_or_else(|_| DEFAULT_ETCD_BIN.to_string())
}

/// One etcd member process. Killed when dropped.
#[derive(Debug)]
pub struct EtcdProcess {
    name: String,
    /// `None` once killed.
    child: Option<Child>,
    client_url: String,
    peer_url: String,
    data_dir: PathBuf,
    log: PathBuf,
}

impl EtcdProcess {
    /// The member's name in the cluster (`m0`, `m1`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL clients connect to (`http://127.0.0.1:port`).
    pub fn client_url(&self) -> &str {
        &self.client_url
    }

    /// The URL the other members connect to.
    pub fn peer_url(&self) -> &str {
        &self.peer_url
    }

    /// The process id, while the member has not been killed.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The member's `--data-dir`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file the member's log (its stderr) goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the member's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// Kill the member (SIGKILL) and reap it. True when it was still running.
    pub fn kill(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let running = matches!(child.try_wait(), Ok(None));
        // Killing a process that already exited fails harmlessly; `wait` reaps it either way.
        let _ = child.kill();
        let _ = child.wait();
        running
    }

    /// `Some(status)` when the member has exited by itself.
    fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot tell: {e}")),
        }
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running etcd cluster on loopback; every member is killed when it is dropped.
#[derive(Debug)]
pub struct EtcdCluster {
    members: Vec<EtcdProcess>,
}

impl EtcdCluster {
    /// Start `members` etcd servers of [`etcd_binary`] with their data and logs under `dir`, and
    /// wait until each answers a linearizable read.
    pub async fn start(members: usize, dir: &Path) -> Result<Self> {
        Self::start_with_binary(members, dir, &etcd_binary()).await
    }

    /// Start `members` servers of the etcd binary `bin` (see [`EtcdCluster::start`]).
    pub async fn start_with_binary(members: usize, dir: &Path, bin: &str) -> Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::launch(members, dir, bin).await {
                Err(Error::Exited { name, tail, .. })
                    if tail.contains("address already in use") && attempt < START_ATTEMPTS =>
                {
                    tracing::warn!(member = %name, attempt, "etcd port taken meanwhile; starting the cluster again on fresh ports");
                    for i in 0..members {
                        let data = data_dir(dir, i);
                        if data.exists() {
                            std::fs::remove_dir_all(&data)
                                .map_err(io_error(format!("remove {}", data.display())))?;
                        }
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn launch(members: usize, dir: &Path, bin: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_error(format!("create {}", dir.display())))?;
        let ports = reserve_ports(2 * members).map_err(io_error("reserve loopback ports"))?;
        let urls: Vec<(String, String)> = ports
            .chunks(2)
            .map(|p| {
                (
                    format!("http://127.0.0.1:{}", p[0]),
                    format!("http://127.0.0.1:{}", p[1]),
                )
            })
            .collect();
        let initial_cluster = urls
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}={peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let token = cluster_token();
        let mut cluster = EtcdCluster {
            members: Vec::with_capacity(members),
        };
        for (i, (client_url, peer_url)) in urls.into_iter().enumerate() {
            let name = format!("m{i}");
            let data_dir = data_dir(dir, i);
            let log = dir.join(format!("{name}.log"));
            let log_file = std::fs::File::create(&log)
                .map_err(io_error(format!("create {}", log.display())))?;
            let mut command = Command::new(bin);
            command
                .arg(format!("--name={name}"))
                .arg(format!("--data-dir={}", data_dir.display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster={initial_cluster}"))
                .arg(format!("--initial-cluster-token={token}"))
                .arg("--initial-cluster-state=new")
                .arg("--max-request-bytes=2097152")
                .arg("--logger=zap")
                .arg("--log-outputs=stderr")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file);
            if let Some(arch) = unsupported_arch()
                && std::env::var_os("ETCD_UNSUPPORTED_ARCH").is_none()
            {
                command.env("ETCD_UNSUPPORTED_ARCH", arch);
            }
            let child = command.spawn().map_err(|source| Error::Spawn {
                bin: bin.to_string(),
                source,
            })?;
            cluster.members.push(EtcdProcess {
                name,
                child: Some(child),
                client_url,
                peer_url,
                data_dir,
                log,
            });
        }
        cluster.wait_ready(READY_TIMEOUT).await?;
        tracing::info!(endpoints = ?cluster.client_endpoints(), "etcd cluster ready");
        Ok(cluster)
    }

    /// Wait until every member answers a linearizable read (which needs an elected leader).
    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for member in &mut self.members {
            loop {
                if let Some(status) = member.exited() {
                    return Err(Error::Exited {
                        name: member.name.clone(),
                        status,
                        log: member.log.clone(),
                        tail: member.log_tail(),
                    });
                }
                let last = match probe(&member.client_url).await {
                    Ok(()) => break,
                    Err(e) => e,
                };
                if Instant::now() >= deadline {
                    return Err(Error::NotReady {
                        name: member.name.clone(),
                        timeout,
                        last,
                        log: member.log.clone(),
                        tail: member.log_tail(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// The client URL of every member, in member order.
    pub fn client_endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// The members, in order.
    pub fn members(&self) -> &[EtcdProcess] {
        &self.members
    }

    /// Member `i`.
    pub fn member(&self, i: usize) -> Option<&EtcdProcess> {
        self.members.get(i)
    }

    /// The process ids of the members still running.
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().filter_map(EtcdProcess::pid).collect()
    }

    /// Kill member `i` (SIGKILL) and reap it. True when it was running.
    pub fn kill(&mut self, i: usize) -> bool {
        self.members.get_mut(i).is_some_and(EtcdProcess::kill)
    }
}

fn data_dir(dir: &Path, member: usize) -> PathBuf {
    dir.join(format!("m{member}"))
}

/// `n` distinct free loopback ports ([`crate::ports`] hands none out twice in a process).
fn reserve_ports(n: usize) -> io::Result<Vec<u16>> {
    (0..n).map(|_| crate::ports::free_port()).collect()
}

/// A token no other cluster on this machine uses, so members of different clusters never join.
fn cluster_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "bosun-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// etcd 3.4 refuses to start on architectures other than amd64 and ppc64le unless
/// `ETCD_UNSUPPORTED_ARCH` names the (Go) architecture it runs on.
fn unsupported_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => None,
        "powerpc64" if cfg!(target_endian = "little") => None,
        "powerpc64" => Some("ppc64"),
        "aarch64" => Some("arm64"),
        "x86" => Some("386"),
        "loongarch64" => Some("loong64"),
        other => Some(other),
    }
}

/// Connect to one member and read a key (linearizably: this needs a leader).
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
        .unwrap_or_else(|_| Err("no answer within 2 s".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_distinct() {
        let ports = reserve_ports(16).expect("ports");
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }

    #[test]
    fn cluster_tokens_are_unique() {
        assert_ne!(cluster_token(), cluster_token());
    }

    #[tokio::test]
    async fn a_missing_binary_says_how_to_install_etcd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = EtcdCluster::start_with_binary(1, dir.path(), "/nonexistent/etcd")
            .await
            .expect_err("no such binary");
        let text = err.to_string();
        assert!(text.contains("apt-get install etcd-server"), "{text}");
    }
}
