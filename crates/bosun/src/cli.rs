//! The command tree.

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::process::ExitCode;

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
/// chain on stderr. `bosun node` and `bosun controller-manager` first try to become the
/// component's own binary ([`crate::own_binary`]).
pub fn main() -> ExitCode {
    let raw: Vec<OsString> = std::env::args_os().collect();
    match raw.get(1).and_then(|a| a.to_str()) {
        // The container shim is tiny and must not log: it is started for every container.
        Some("container-shim") => return shim(),
        Some(subcommand) => crate::own_binary::exec(subcommand, &raw[2..]),
        None => {}
    }
    let cli = Cli::parse();
    run(async move {
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
    })
}

/// The `bosun-node` binary: `bosun node` alone (and the container shim it starts).
pub fn node_main() -> ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "container-shim")
    {
        return shim();
    }
    component_main(
        "node",
        "bosun-node",
        "The bosun node agent: registers a Node and runs the pods bound to it",
        crate::node::run,
    )
}

/// The `bosun-controller-manager` binary: `bosun controller-manager` alone.
pub fn controller_manager_main() -> ExitCode {
    component_main(
        "controller-manager",
        "bosun-controller-manager",
        "The bosun controller manager: workloads, garbage collection, nodes, endpoints (leader-elected)",
        crate::controller_manager::run,
    )
}

fn shim() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(2).collect();
    crate::node::shim_main(&raw)
}

/// One component's binary: the subcommand's flags are the whole command line.
fn component_main<A, F>(
    subcommand: &str,
    name: &'static str,
    about: &'static str,
    work: impl FnOnce(A) -> F,
) -> ExitCode
where
    A: clap::Args,
    F: Future<Output = anyhow::Result<()>>,
{
    let raw: Vec<OsString> = std::env::args_os().collect();
    let rest = raw.get(1..).unwrap_or_default();
    if let Err(e) = crate::own_binary::hand_back_if_stale(subcommand, rest) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let command = A::augment_args(
        clap::Command::new(name)
            .version(env!("CARGO_PKG_VERSION"))
            .about(about),
    );
    let args = match command
        .try_get_matches_from(raw)
        .and_then(|m| A::from_arg_matches(&m))
    {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    run(work(args))
}

/// Run one command to completion on a fresh runtime, logging to stderr.
fn run(work: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    if let Err(message) = exit_with_parent() {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
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
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
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
