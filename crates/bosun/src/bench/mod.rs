//! `bosun bench ...`: benchmarks that print figures. Each prints a human summary and, as its
//! last line, one JSON object with the figures (recorded in `docs/benchmarks.md`).

pub mod api;
pub(crate) mod cluster;
pub mod controllers;
pub mod cpu;
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

/// A TCP port on 127.0.0.1 free now, for a child to listen on; no port twice in a process
/// (see [`bosun_store_etcd::ports`]: below the ephemeral range, where no outgoing connection
/// takes it first).
pub(crate) fn free_port() -> Result<u16> {
    Ok(bosun_store_etcd::ports::free_port()?)
}
