//! `bosun bench ...`: benchmarks that print figures. Each prints a human summary and, as its
//! last line, one JSON object with the figures (recorded in `docs/benchmarks.md`).

pub mod api;
pub mod stats;
pub mod store;

use anyhow::Result;
use clap::{Args, Subcommand};

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
}

pub async fn run(args: BenchArgs) -> Result<()> {
    match args.command {
        BenchCommand::Store(a) => store::run(a).await,
        BenchCommand::Api(a) => api::run(a).await,
    }
}
