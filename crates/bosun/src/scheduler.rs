//! `bosun scheduler`: places pods on nodes; with leader election, several can run and one
//! schedules.

use anyhow::{Context, Result};
use bosun_leader::ElectionConfig;
use bosun_scheduler::{Profile, SchedulerConfig, SchedulerConfiguration, ScoringStrategy};
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
    #[arg(long, conflicts_with = "config")]
    pub most_allocated: bool,
    /// A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) YAML file: the profiles
    /// to serve (one per schedulerName) and the leader election's lease.
    #[arg(long)]
    pub config: Option<PathBuf>,
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
    election_in("kube-system", name, identity, lease_s)
}

/// [`election`] over a Lease in `namespace`.
pub fn election_in(namespace: &str, name: &str, identity: String, lease_s: u64) -> ElectionConfig {
    let lease = Duration::from_secs(lease_s.max(2));
    ElectionConfig {
        lease_duration: lease,
        renew_deadline: lease * 2 / 3,
        retry_period: (lease / 7).max(Duration::from_millis(500)),
        ..ElectionConfig::new(namespace, name, &identity)
    }
}

/// The profiles and election from `--config`, or from the flags alone.
fn configuration(args: &SchedulerArgs) -> Result<SchedulerConfiguration> {
    match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            bosun_scheduler::config::parse(&text).with_context(|| path.display().to_string())
        }
        None => Ok(SchedulerConfiguration {
            profiles: vec![Profile {
                strategy: if args.most_allocated {
                    ScoringStrategy::MostAllocated
                } else {
                    ScoringStrategy::LeastAllocated
                },
                ..Profile::default()
            }],
            leader_election: Default::default(),
        }),
    }
}

pub async fn run(args: SchedulerArgs) -> Result<()> {
    // A bad configuration stops the scheduler before it talks to anyone.
    let file = configuration(&args)?;
    let client = crate::kube_client::from_kubeconfig(&args.kubeconfig).await?;
    let le = &file.leader_election;
    let config = SchedulerConfig {
        profiles: file.profiles.clone(),
        bind_concurrency: args.bind_concurrency.max(1),
        record_events: !args.no_events,
        explain: true,
        leader_election: le.leader_elect.unwrap_or(args.leader_elect).then(|| {
            election_in(
                le.resource_namespace.as_deref().unwrap_or("kube-system"),
                le.resource_name.as_deref().unwrap_or("kube-scheduler"),
                identity(args.identity.clone()),
                args.lease_duration_s,
            )
        }),
    };
    let names: Vec<&str> = config
        .profiles
        .iter()
        .map(|p| p.scheduler_name.as_str())
        .collect();
    tracing::info!(profiles = ?names, "scheduler profiles");
    let stop = CancellationToken::new();
    let task = tokio::spawn(bosun_scheduler::run(client, config, stop.clone()));
    tracing::info!("scheduler started");
    crate::signal::shutdown().await;
    stop.cancel();
    let _ = task.await;
    Ok(())
}
