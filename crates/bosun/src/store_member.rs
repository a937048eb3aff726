//! `bosun store`: run one member of the embedded raft store on its own, and change a running
//! group's membership.

use anyhow::{Context, Result, bail};
use bosun_store_raft::{NodeId, RaftConfig, RaftStore};
use clap::{Args, Subcommand};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Run a store member until SIGINT/SIGTERM.
    Member(MemberArgs),
    /// Ask a running group to add a learner (a non-voting member that catches up).
    AddLearner {
        /// Any member's port (host:port).
        #[arg(long)]
        member: String,
        #[arg(long, default_value = "bosun")]
        cluster: String,
        #[arg(long)]
        id: NodeId,
        /// The new member's port (host:port).
        #[arg(long)]
        addr: String,
    },
    /// Make exactly these members the voters (comma-separated ids).
    SetVoters {
        #[arg(long)]
        member: String,
        #[arg(long, default_value = "bosun")]
        cluster: String,
        #[arg(value_delimiter = ',')]
        voters: Vec<NodeId>,
    },
    /// Print a member's raft status as JSON.
    Status {
        #[arg(long)]
        member: String,
    },
}

#[derive(Debug, Args)]
pub struct MemberArgs {
    /// This member's id (unique in the group).
    #[arg(long, default_value_t = 1)]
    pub id: NodeId,
    /// The cluster name; data dirs and peers of other clusters are refused.
    #[arg(long, default_value = "bosun")]
    pub cluster: String,
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The member port (raft transport and forwarded requests).
    #[arg(long, default_value = "127.0.0.1:2380")]
    pub listen: SocketAddr,
    /// The address other members use to reach this one (default: --listen).
    #[arg(long)]
    pub advertise: Option<String>,
    /// The initial voters, `id=host:port,...` (default: this member alone).
    #[arg(long, value_delimiter = ',')]
    pub initial_members: Vec<String>,
    /// Start without forming a group and wait to be added to a running one
    /// (`bosun store add-learner`).
    #[arg(long)]
    pub join: bool,
    /// Take a snapshot every this many log entries.
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// Log entries (request batches) the leader keeps in flight.
    #[arg(long, default_value_t = 1)]
    pub max_in_flight: usize,
    #[arg(long, default_value_t = 60)]
    pub heartbeat_ms: u64,
    #[arg(long, default_value_t = 300)]
    pub election_min_ms: u64,
    #[arg(long, default_value_t = 450)]
    pub election_max_ms: u64,
}

/// Parse `id=host:port` pairs.
pub fn parse_members(items: &[String]) -> Result<BTreeMap<NodeId, String>> {
    let mut out = BTreeMap::new();
    for item in items.iter().filter(|s| !s.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .with_context(|| format!("{item:?}: expected id=host:port"))?;
        let id: NodeId = id
            .trim()
            .parse()
            .with_context(|| format!("{item:?}: the id is not a number"))?;
        if out.insert(id, addr.trim().to_string()).is_some() {
            bail!("member {id} is named twice");
        }
    }
    Ok(out)
}

impl MemberArgs {
    pub fn config(&self) -> Result<RaftConfig> {
        let mut c = RaftConfig::new(
            self.id,
            self.cluster.clone(),
            self.data_dir.clone(),
            self.listen,
        );
        c.advertise = self.advertise.clone();
        c.initial_members = parse_members(&self.initial_members)?;
        c.join = self.join;
        c.snapshot_every = self.snapshot_every;
        c.heartbeat = Duration::from_millis(self.heartbeat_ms);
        c.max_in_flight = self.max_in_flight;
        c.election_timeout = (
            Duration::from_millis(self.election_min_ms),
            Duration::from_millis(self.election_max_ms),
        );
        Ok(c)
    }
}

pub async fn run(args: StoreArgs) -> Result<()> {
    match args.command {
        StoreCommand::Member(m) => run_member(m).await,
        StoreCommand::AddLearner {
            member,
            cluster,
            id,
            addr,
        } => {
            let store = remote_admin(&member, &cluster).await?;
            store.add_learner(id, addr).await.context("add learner")?;
            println!("member {id} added as a learner");
            Ok(())
        }
        StoreCommand::SetVoters {
            member,
            cluster,
            voters,
        } => {
            let store = remote_admin(&member, &cluster).await?;
            store
                .change_voters(voters.iter().copied().collect::<BTreeSet<_>>())
                .await
                .context("change voters")?;
            println!("voters are now {voters:?}");
            Ok(())
        }
        StoreCommand::Status { member } => {
            let body = reqwest::get(format!("http://{member}/status"))
                .await?
                .error_for_status()?
                .text()
                .await?;
            println!("{body}");
            Ok(())
        }
    }
}

/// Membership changes go through the member port's admin endpoint of a running member.
async fn remote_admin(member: &str, cluster: &str) -> Result<bosun_store_raft::client::RaftAdmin> {
    Ok(bosun_store_raft::client::RaftAdmin::new(cluster, member))
}

async fn run_member(args: MemberArgs) -> Result<()> {
    let config = args.config()?;
    let store = RaftStore::start(config)
        .await
        .context("store member failed to start")?;
    println!(
        "bosun store member {} listening on {} (cluster {:?})",
        store.id(),
        store.addr(),
        args.cluster
    );
    crate::signal::shutdown().await;
    store.shutdown().await;
    println!("bosun store member {} stopped", args.id);
    Ok(())
}
