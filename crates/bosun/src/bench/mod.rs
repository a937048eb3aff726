//! `bosun bench ...`: benchmarks that print figures. Each prints a human summary and, as its
//! last line, one JSON object with the figures (recorded in `docs/benchmarks.md`).

pub mod api;
pub(crate) mod cluster;
pub mod controllers;
pub mod pods;
pub mod scheduler;
pub mod stats;
pub mod store;

use anyhow::Result;
use clap::{Args, Subcommand};
use std::process::Child;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The replicated store: a 3-member raft group against a 3-member etcd cluster.
    Store(store::StoreBenchArgs),
    /// The API server over HTTPS: readiness, creates, LIST, latency, watch fan-out, memory.
    Api(api::ApiBenchArgs),
    /// The node agent: pod startup on the process runtime, agent memory, a simulating agent.
    Pods(pods::PodsBenchArgs),
    /// The scheduler: bind throughput against the store's write rate, latency, memory, spread.
    Scheduler(scheduler::SchedulerBenchArgs),
    /// The controllers: a Deployment scaled to many replicas, self-healing after a node is lost.
    Controllers(controllers::ControllersBenchArgs),
}

pub async fn run(args: BenchArgs) -> Result<()> {
    match args.command {
        BenchCommand::Store(a) => store::run(a).await,
        BenchCommand::Api(a) => api::run(a).await,
        BenchCommand::Pods(a) => pods::run(a).await,
        BenchCommand::Scheduler(a) => scheduler::run(a).await,
        BenchCommand::Controllers(a) => controllers::run(a).await,
    }
}

/// Child processes (servers under measurement) killed and reaped when dropped.
pub(crate) struct Children(pub(crate) Vec<Option<Child>>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in self.0.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Where the ports the benchmarks hand to their children are taken from: below Linux's default
/// ephemeral range (32768–60999). A port the kernel picked for `bind(0)` is in that range, and
/// between the check here and the child's own bind an outgoing connection of another child (a
/// raft member dialing its peers) could take it as its source port: "API server 2 did not
/// become ready ... Address already in use" in a bench run.
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A TCP port on 127.0.0.1 free now, for a child to listen on; no port twice in a process.
pub(crate) fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static BASE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(PORTS.end - PORTS.start);
    // A random start per process, so that benchmarks run at once do not try ports in step.
    let base = *BASE.get_or_init(|| rand::random::<u32>() % span);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = PORTS.start + u16::try_from((base + n) % span)?;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_below_the_ephemeral_range_free_and_distinct() {
        let ports: Vec<u16> = (0..8).map(|_| free_port().expect("a free port")).collect();
        for p in &ports {
            assert!(PORTS.contains(p), "{p}");
            std::net::TcpListener::bind(("127.0.0.1", *p)).expect("still free");
        }
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }
}
