//! The command tree.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bosun",
    version,
    about = "A Kubernetes-compatible control plane"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A one-machine cluster: embedded store, API server, kubeconfig.
    Up(crate::up::UpArgs),
    /// One API server replica (embedded store member, or --etcd-endpoints).
    Apiserver(crate::apiserver::ApiServerArgs),
    /// The embedded raft store: run a member, change membership, show status.
    Store(crate::store_member::StoreArgs),
    /// The node agent: registers a Node and runs the pods bound to it.
    Node(crate::node::NodeArgs),
    /// The scheduler: binds pods to nodes (leader-elected).
    Scheduler(crate::scheduler::SchedulerArgs),
    /// The controller manager: workloads, garbage collection, nodes, endpoints (leader-elected).
    ControllerManager(crate::controller_manager::ControllerManagerArgs),
    /// A TCP load balancer in front of API server replicas (HA control planes).
    Lb(crate::lb::LbArgs),
    /// Benchmarks that print figures (the last line is one JSON object).
    Bench(crate::bench::BenchArgs),
}

/// Parse the command line, run the subcommand, and map failure to exit code 1 with the error
/// chain on stderr.
pub fn main() -> std::process::ExitCode {
    // The container shim is tiny and must not log: it is started for every container.
    let raw: Vec<String> = std::env::args().collect();
    if raw.get(1).map(String::as_str) == Some("container-shim") {
        return crate::node::shim_main(&raw[2..]);
    }
    let cli = Cli::parse();
    if let Err(message) = exit_with_parent() {
        eprintln!("error: {message}");
        return std::process::ExitCode::FAILURE;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,bosun=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => crate::up::run(args).await,
            Command::Apiserver(args) => crate::apiserver::run(args).await,
            Command::Store(args) => crate::store_member::run(args).await,
            Command::Node(args) => crate::node::run(args).await,
            Command::Scheduler(args) => crate::scheduler::run(args).await,
            Command::ControllerManager(args) => crate::controller_manager::run(args).await,
            Command::Lb(args) => crate::lb::run(args).await,
            Command::Bench(args) => crate::bench::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A component started by `bosun up` (which sets `BOSUN_PARENT_PID`) asks the kernel for a
/// SIGTERM when `bosun up` dies, even by SIGKILL, so no component outlives its cluster.
fn exit_with_parent() -> Result<(), String> {
    let Ok(parent) = std::env::var("BOSUN_PARENT_PID") else {
        return Ok(());
    };
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
        .map_err(|e| format!("cannot follow the parent process: {e}"))?;
    // The parent may have died before the request took effect.
    if nix::unistd::getppid().as_raw().to_string() != parent {
        return Err("the bosun up that started this component is gone".into());
    }
    Ok(())
}
