//! `bosun scheduler`: places pods on nodes; with leader election, several can run and one
//! schedules.

use anyhow::Result;
use bosun_leader::ElectionConfig;
use bosun_scheduler::{Profile, SchedulerConfig, ScoringStrategy};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// How to reach and authenticate to the API server.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Stand for election over the Lease kube-system/kube-scheduler before scheduling.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// This replica's name in the election (default: hostname and pid).
    #[arg(long)]
    pub identity: Option<String>,
    /// Lease duration, seconds: a standby takes over at most this long after the leader dies.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_s: u64,
    /// Bindings in flight at once.
    #[arg(long, default_value_t = 64)]
    pub bind_concurrency: usize,
    /// Prefer the fullest nodes (MostAllocated) instead of the emptiest.
    #[arg(long)]
    pub most_allocated: bool,
    /// Do not record Scheduled/FailedScheduling Events.
    #[arg(long)]
    pub no_events: bool,
}

pub fn identity(given: Option<String>) -> String {
    given.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}_{}", host.trim(), std::process::id())
    })
}

/// Lease timing from a lease duration, keeping client-go's proportions (15/10/2).
pub fn election(name: &str, identity: String, lease_s: u64) -> ElectionConfig {
    let lease = Duration::from_secs(lease_s.max(2));
    ElectionConfig {
        lease_duration: lease,
        renew_deadline: lease * 2 / 3,
        retry_period: (lease / 7).max(Duration::from_millis(500)),
        ..ElectionConfig::new("kube-system", name, &identity)
    }
}

pub async fn run(args: SchedulerArgs) -> Result<()> {
    let client = crate::kube_client::from_kubeconfig(&args.kubeconfig).await?;
    let config = SchedulerConfig {
        profile: Profile {
            strategy: if args.most_allocated {
                ScoringStrategy::MostAllocated
            } else {
                ScoringStrategy::LeastAllocated
            },
            ..Profile::default()
        },
        bind_concurrency: args.bind_concurrency.max(1),
        record_events: !args.no_events,
        explain: true,
        leader_election: args.leader_elect.then(|| {
            election(
                "kube-scheduler",
                identity(args.identity.clone()),
                args.lease_duration_s,
            )
        }),
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(bosun_scheduler::run(client, config, stop.clone()));
    tracing::info!("scheduler started");
    crate::signal::shutdown().await;
    stop.cancel();
    let _ = task.await;
    Ok(())
}
