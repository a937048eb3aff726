//! `bosun lb`: a TCP load balancer in front of API server replicas, so that components and
//! kubectl have one address for an HA control plane. TLS passes through untouched (the
//! replicas' shared serving certificate names the balancer, see `bosun apiserver --tls-san`).
//! Each connection goes to the next replica in turn; a replica that refuses a connection is
//! skipped for a few seconds, and a connection is only refused when every replica is down.

use anyhow::{Context, Result};
use clap::Args;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct LbArgs {
    /// Where to listen.
    #[arg(long, default_value = "0.0.0.0:6443")]
    pub listen: String,
    /// The API server replicas, `host:port`, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub backends: Vec<String>,
}

/// How long a replica that refused a connection is skipped.
const SKIP_FOR: Duration = Duration::from_secs(5);
/// How long a connection to a replica may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The order in which to try `n` replicas for one connection: round-robin from `start`, the
/// ones not marked down first, then the down ones (better a retry than a refusal).
pub fn try_order(n: usize, start: usize, down: &[bool]) -> Vec<usize> {
    let ring: Vec<usize> = (0..n).map(|i| (start + i) % n.max(1)).collect();
    let (up, skipped): (Vec<usize>, Vec<usize>) = ring
        .into_iter()
        .partition(|i| !down.get(*i).copied().unwrap_or(false));
    up.into_iter().chain(skipped).collect()
}

#[derive(Debug)]
struct Backends {
    addrs: Vec<String>,
    next: AtomicUsize,
    down_until: Mutex<Vec<Option<Instant>>>,
}

impl Backends {
    fn order(&self) -> Vec<usize> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let down: Vec<bool> = self
            .down_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|d| d.is_some_and(|until| until > now))
            .collect();
        try_order(self.addrs.len(), start, &down)
    }

    fn mark(&self, i: usize, down: bool) {
        let mut d = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = d.get_mut(i) {
            *slot = down.then(|| Instant::now() + SKIP_FOR);
        }
    }
}

async fn proxy(mut client: TcpStream, backends: Arc<Backends>) {
    for i in backends.order() {
        let addr = &backends.addrs[i];
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(mut server)) => {
                backends.mark(i, false);
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(backend = %addr, error = %e, "replica refused; trying the next")
            }
            Err(_) => tracing::warn!(backend = %addr, "replica did not answer; trying the next"),
        }
        backends.mark(i, true);
    }
    tracing::warn!("no replica reachable; connection closed");
}

/// Serve until `stop`.
pub async fn serve(listener: TcpListener, backends: Vec<String>, stop: CancellationToken) {
    let n = backends.len();
    let backends = Arc::new(Backends {
        addrs: backends,
        next: AtomicUsize::new(0),
        down_until: Mutex::new(vec![None; n]),
    });
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((conn, _)) => {
                let _ = conn.set_nodelay(true);
                connections.spawn(proxy(conn, backends.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

pub async fn run(args: LbArgs) -> Result<()> {
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!(
        "bosun lb on {} for {}",
        args.listen,
        args.backends.join(",")
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve(listener, args.backends.clone(), stop.clone()));
    crate::signal::shutdown().await;
    stop.cancel();
    let _ = task.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn connections_go_round_robin_and_skip_replicas_that_are_down() {
        assert_eq!(try_order(3, 0, &[false; 3]), [0, 1, 2]);
        assert_eq!(try_order(3, 4, &[false; 3]), [1, 2, 0]);
        assert_eq!(try_order(3, 0, &[true, false, false]), [1, 2, 0]);
        assert_eq!(try_order(3, 1, &[false, true, true]), [0, 1, 2]);
        assert_eq!(try_order(0, 5, &[]), Vec::<usize>::new());
    }

    /// A real listener that answers each connection with its name.
    async fn named_server(name: &'static str) -> (String, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let task = tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let _ = c.write_all(name.as_bytes()).await;
            }
        });
        (addr, task)
    }

    async fn ask(addr: &str) -> String {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        let mut out = String::new();
        let _ = c.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn a_dead_replica_is_passed_over_and_the_others_share_the_connections() {
        let (a, _ta) = named_server("a").await;
        let (b, _tb) = named_server("b").await;
        // A port nothing listens on.
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").to_string()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let front = listener.local_addr().expect("addr").to_string();
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, vec![a, dead, b], stop.clone()));
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(ask(&front).await);
        }
        assert!(seen.iter().all(|s| s == "a" || s == "b"), "{seen:?}");
        assert!(
            seen.contains(&"a".to_string()) && seen.contains(&"b".to_string()),
            "{seen:?}"
        );
        stop.cancel();
        task.await.expect("stopped");
    }
}
