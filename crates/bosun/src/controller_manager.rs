//! `bosun controller-manager`: the reconcile loops (workloads, garbage collection, nodes,
//! endpoints); with leader election, several can run and one works.

use anyhow::Result;
use bosun_controller_manager::ManagerConfig;
use clap::Args;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct ControllerManagerArgs {
    /// How to reach and authenticate to the API server.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Stand for election over the Lease kube-system/kube-controller-manager first.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// This replica's name in the election (default: hostname and pid).
    #[arg(long)]
    pub identity: Option<String>,
    /// Lease duration, seconds.
    #[arg(long, default_value_t = 15)]
    pub lease_duration_s: u64,
    /// Keys reconciled at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Pod creates/deletes of one reconcile in flight at once.
    #[arg(long, default_value_t = 64)]
    pub burst: usize,
    /// A node whose Lease is older than this is NotReady/unreachable (seconds).
    #[arg(long, default_value_t = 40)]
    pub node_monitor_grace_period_s: u64,
    /// Pods on an unreachable node are evicted after this long unless they tolerate longer.
    #[arg(long, default_value_t = 300)]
    pub default_toleration_s: u64,
    /// Finished (Succeeded/Failed) pods kept at most; the oldest beyond are deleted.
    #[arg(long, default_value_t = bosun_controllers::pod_gc::DEFAULT_THRESHOLD)]
    pub terminated_pod_gc_threshold: usize,
}

pub async fn run(args: ControllerManagerArgs) -> Result<()> {
    let client = crate::kube_client::from_kubeconfig(&args.kubeconfig).await?;
    let settings = bosun_controller_manager::controllers::Settings {
        node_grace: std::time::Duration::from_secs(args.node_monitor_grace_period_s),
        default_toleration: std::time::Duration::from_secs(args.default_toleration_s),
        terminated_pod_gc_threshold: args.terminated_pod_gc_threshold,
    };
    let config = ManagerConfig {
        concurrency: args.concurrency.max(1),
        burst: args.burst.max(1),
    };
    let election = args.leader_elect.then(|| {
        crate::scheduler::election(
            "kube-controller-manager",
            crate::scheduler::identity(args.identity.clone()),
            args.lease_duration_s,
        )
    });
    let stop = CancellationToken::new();
    let work = {
        let client = client.clone();
        move |token: CancellationToken| {
            let client = client.clone();
            let config = config.clone();
            let settings = settings.clone();
            async move {
                bosun_controller_manager::run(
                    client,
                    bosun_controller_manager::controllers::all(&settings),
                    config,
                    token,
                )
                .await
            }
        }
    };
    let task = {
        let stop = stop.clone();
        tokio::spawn(async move {
            match election {
                Some(e) => bosun_leader::run_elected(client, e, stop, work).await,
                None => work(stop).await,
            }
        })
    };
    tracing::info!("controller manager started");
    crate::signal::shutdown().await;
    stop.cancel();
    let _ = task.await;
    Ok(())
}
