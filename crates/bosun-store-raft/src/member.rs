//! [`RaftStore`]: one member of the raft group, and the [`Store`] it serves.
//!
//! Writes become [`Command`]s in a [`Proposal`]: on the leader, concurrent requests are batched
//! into one log entry (one fsync for the batch, several batches in flight); on a follower they are
//! forwarded to the leader over the member port. Reads are linearizable by default (read-index:
//! the leader confirms its leadership with a quorum and names a log index; the member serves the
//! read from its own state once it has applied that index); serializable reads and watches are
//! served from the local state at once. Retryable failures (no leader yet, leader changed) are
//! retried within the request timeout with the same request id, so a request is applied once.

use crate::log_store::{LogStore, OpenError};
use crate::network::{Network, TransportError, http_client, post};
use crate::snapshot::SnapshotError;
use crate::state_machine::StateMachine;
use crate::types::{
    Applied, Command, LogId, NodeId, Proposal, Raft, RequestId, RequestResult, Vote,
};
use bosun_store::{
    Consistency, Error, LocalStore, RangeRequest, RangeResponse, Result, Revision, Store, Txn,
    TxnResponse, WatchRequest, WatchStream, validate_txn,
};
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How a member is set up.
#[derive(Clone, Debug)]
pub struct RaftConfig {
    /// This member's id (unique in the group, never reused).
    pub id: NodeId,
    /// The cluster's name; a data dir or a peer of another cluster is refused.
    pub cluster: String,
    pub data_dir: PathBuf,
    /// Where the member port (raft transport and forwarded requests) listens.
    pub listen: SocketAddr,
    /// The address peers use to reach this member (default: the bound address).
    pub advertise: Option<String>,
    /// The initial voters, this member included (`id -> host:port`). The member with the lowest
    /// id initializes the group on first start; empty means a group of this member alone.
    pub initial_members: BTreeMap<NodeId, String>,
    /// Start without forming a group: wait to be added to a running one (as a learner).
    pub join: bool,
    pub heartbeat: Duration,
    pub election_timeout: (Duration, Duration),
    /// Take a snapshot after this many log entries.
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot, so a slightly lagging follower needs no snapshot.
    pub logs_kept_after_snapshot: u64,
    /// How long a request may wait for a leader and a quorum before failing.
    pub request_timeout: Duration,
    /// redb's page cache.
    pub cache_bytes: usize,
    /// How many log entries (each a batch of requests) the leader proposes before the first is
    /// committed. Fewer means bigger batches and fewer fsyncs; more means less waiting.
    pub max_in_flight: usize,
}

impl RaftConfig {
    /// Development defaults for member `id` of `cluster` in `data_dir`, listening on `listen`.
    pub fn new(
        id: NodeId,
        cluster: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        listen: SocketAddr,
    ) -> Self {
        Self {
            id,
            cluster: cluster.into(),
            data_dir: data_dir.into(),
            listen,
            advertise: None,
            initial_members: BTreeMap::new(),
            join: false,
            heartbeat: Duration::from_millis(60),
            election_timeout: (Duration::from_millis(300), Duration::from_millis(450)),
            snapshot_every: 10_000,
            logs_kept_after_snapshot: 1_000,
            request_timeout: Duration::from_secs(5),
            cache_bytes: 16 * 1024 * 1024,
            max_in_flight: 1,
        }
    }
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{path}: cannot create the data dir: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] OpenError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid raft configuration: {0}")]
    Config(String),
    #[error("raft failed to start: {0}")]
    Raft(String),
}

/// What `/status` reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberStatus {
    pub id: NodeId,
    pub state: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub revision: Revision,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
}

/// Whether a queued request may be forwarded to the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// A request of this member's own client: forward it if this member is not the leader.
    Forward,
    /// A request another member forwarded: only the leader may take it.
    LeaderOnly,
}

struct Pending {
    id: RequestId,
    command: Command,
    route: Route,
    reply: oneshot::Sender<RequestResult>,
}

fn answer_all(batch: Vec<Pending>, error: Error) {
    for p in batch {
        let _ = p.reply.send(Err(error.clone()));
    }
}

type ReadIndexReply = oneshot::Sender<Result<u64>>;

/// The leadership a member takes back when it starts: openraft resumes a member whose saved
/// vote is its own committed vote as leader of that term at once, with no election and no new
/// blank entry. In that term its commit index starts from the one it saved, which is not fsynced
/// (see [`crate::log_store`]) and may be older than writes it acknowledged before it stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResumedLeadership {
    /// The term it leads again.
    term: u64,
    /// The last index of its log when it started: every write it acknowledged is at or below.
    last_index: u64,
}

impl ResumedLeadership {
    /// What member `id` resumes, from the vote and last log id it saved.
    pub(crate) fn of(id: NodeId, vote: Option<Vote>, last_log: Option<LogId>) -> Option<Self> {
        let vote = vote.filter(|v| v.committed && v.leader_id.voted_for() == Some(id))?;
        Some(Self {
            term: vote.leader_id.term,
            last_index: last_log?.index,
        })
    }
}

/// The log index a linearizable read waits for, from what openraft's leadership check answered
/// (its commit index, or its blank entry of the term if later). In a term the leader resumed,
/// the commit index it knows may trail what it acknowledged before a restart, so the read waits
/// for the log's end at start as well; in any later term the leader's new blank entry follows
/// everything committed before.
pub(crate) fn read_index(read_log_id: Option<LogId>, resumed: Option<ResumedLeadership>) -> u64 {
    let index = read_log_id.map_or(0, |l| l.index);
    match (read_log_id, resumed) {
        (Some(l), Some(r)) if l.leader_id.term == r.term => index.max(r.last_index),
        _ => index,
    }
}

struct Inner {
    id: NodeId,
    raft: Raft,
    local: LocalStore,
    http: reqwest::Client,
    cluster: Arc<str>,
    config: RaftConfig,
    addr: SocketAddr,
    proposals: mpsc::Sender<Pending>,
    reads: mpsc::Sender<ReadIndexReply>,
    resumed: Option<ResumedLeadership>,
    shutdown: CancellationToken,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// A running member. Cheap to clone.
#[derive(Clone)]
pub struct RaftStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RaftStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftStore")
            .field("id", &self.inner.id)
            .field("addr", &self.inner.addr)
            .finish()
    }
}

/// The most requests batched into one log entry.
const MAX_BATCH: usize = 512;

impl RaftStore {
    /// Open the data dir, bind the member port, start raft, and initialize the group if this
    /// member is the lowest-numbered initial member of a new group.
    pub async fn start(config: RaftConfig) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let mut log = LogStore::open(
            &config.data_dir,
            &config.cluster,
            config.id,
            config.cache_bytes,
        )?;
        let resumed = log
            .saved_position()
            .await
            .map(|(vote, last)| ResumedLeadership::of(config.id, vote, last))
            .map_err(|e| StartError::Raft(format!("reading the saved vote and log: {e}")))?;
        let local = LocalStore::default();
        let sm = StateMachine::open(config.data_dir.join("snapshots"), local.clone())?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;

        let raft_config = openraft::Config {
            cluster_name: config.cluster.clone(),
            heartbeat_interval: config.heartbeat.as_millis() as u64,
            election_timeout_min: config.election_timeout.0.as_millis() as u64,
            election_timeout_max: config.election_timeout.1.as_millis() as u64,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.logs_kept_after_snapshot,
            max_payload_entries: 64,
            install_snapshot_timeout: 60_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Config(e.to_string()))?;
        let cluster: Arc<str> = Arc::from(config.cluster.as_str());
        let source = Some(addr.ip()).filter(|ip| !ip.is_unspecified());
        let http = http_client(source);
        let raft = Raft::new(
            config.id,
            Arc::new(raft_config),
            Network::new(http.clone(), cluster.clone()),
            log,
            sm,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;

        let (proposals, proposal_rx) = mpsc::channel(4 * MAX_BATCH);
        let (reads, read_rx) = mpsc::channel(4096);
        let store = RaftStore {
            inner: Arc::new(Inner {
                id: config.id,
                raft,
                local,
                http,
                cluster,
                config: config.clone(),
                addr,
                proposals,
                reads,
                resumed,
                shutdown: CancellationToken::new(),
                tasks: std::sync::Mutex::new(Vec::new()),
            }),
        };
        let server = crate::server::serve(listener, store.clone(), store.inner.shutdown.clone());
        let tasks = vec![
            tokio::spawn(server),
            tokio::spawn(store.clone().batch_proposals(proposal_rx)),
            tokio::spawn(store.clone().serve_read_index(read_rx)),
        ];
        store
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(tasks);
        store.bootstrap().await?;
        Ok(store)
    }

    async fn bootstrap(&self) -> Result<(), StartError> {
        let raft = &self.inner.raft;
        if raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?
        {
            return Ok(());
        }
        if self.inner.config.join {
            // It waits to be added to a running group.
            return Ok(());
        }
        let mut members = self.inner.config.initial_members.clone();
        if members.is_empty() {
            members.insert(self.inner.id, self.advertised_addr());
        }
        if !members.contains_key(&self.inner.id) {
            return Err(StartError::Config(format!(
                "the initial members {:?} do not include this member ({}); use join to add a member to a running group",
                members.keys().collect::<Vec<_>>(),
                self.inner.id
            )));
        }
        if members.keys().next() != Some(&self.inner.id) {
            return Ok(());
        }
        let nodes: BTreeMap<NodeId, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode { addr }))
            .collect();
        match raft.initialize(nodes).await {
            Ok(()) => Ok(()),
            // Another start already initialized it.
            Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(StartError::Raft(e.to_string())),
        }
    }

    /// This member's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The bound member port.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    fn advertised_addr(&self) -> String {
        self.inner
            .config
            .advertise
            .clone()
            .unwrap_or_else(|| self.inner.addr.to_string())
    }

    pub(crate) fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    pub(crate) fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    pub(crate) fn snapshot_dir(&self) -> PathBuf {
        self.inner.config.data_dir.join("snapshots")
    }

    /// The local state (what this member has applied), for serializable reads and tests.
    pub fn local(&self) -> &LocalStore {
        &self.inner.local
    }

    /// The current leader and its member address, as this member knows it.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let leader = m.current_leader?;
        let addr = m
            .membership_config
            .membership()
            .get_node(&leader)?
            .addr
            .clone();
        Some((leader, addr))
    }

    pub fn is_leader(&self) -> bool {
        self.leader().is_some_and(|(id, _)| id == self.inner.id)
    }

    /// A summary of this member's raft state.
    pub fn status(&self) -> MemberStatus {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        MemberStatus {
            id: self.inner.id,
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            revision: self.inner.local.revision(),
            voters: voters.iter().copied().collect(),
            learners: membership.learner_ids().collect(),
        }
    }

    /// Wait until some member is leader (as seen from here), up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((id, _)) = self.leader() {
                return Ok(id);
            }
            if Instant::now() >= deadline {
                return Err(Error::Unavailable(format!(
                    "no leader elected within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop serving: the member port closes, raft stops, watches end.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let _ = self.inner.raft.shutdown().await;
        self.inner.local.close();
        let tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    // ---- writes -------------------------------------------------------------------------

    /// Submit a command and wait for its answer, retrying retryable failures with the same
    /// request id until the request timeout.
    async fn propose(&self, command: Command) -> RequestResult {
        let id = RequestId::random();
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let mut backoff = Duration::from_millis(5);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self
                .submit(id, command.clone(), Route::Forward, remaining)
                .await
            {
                Err(e) if e.is_retryable() && Instant::now() + backoff < deadline => {
                    tracing::debug!(error = %e, "retrying proposal");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// Queue a command in this member's batcher and wait for its answer.
    pub(crate) async fn submit(
        &self,
        id: RequestId,
        command: Command,
        route: Route,
        timeout: Duration,
    ) -> RequestResult {
        let (reply, rx) = oneshot::channel();
        self.inner
            .proposals
            .send(Pending {
                id,
                command,
                route,
                reply,
            })
            .await
            .map_err(|_| Error::Fatal("member stopped".into()))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Error::Fatal("member stopped".into())),
            Err(_) => Err(Error::Timeout(format!(
                "write not committed within {timeout:?}"
            ))),
        }
    }

    /// Batch queued requests: on the leader into one log entry, on a follower into one request
    /// to the leader. At most `max_in_flight` batches are outstanding; whatever queues meanwhile
    /// forms the next batch, which is what keeps fsyncs and round trips per write low.
    async fn batch_proposals(self, mut rx: mpsc::Receiver<Pending>) {
        let in_flight = Arc::new(Semaphore::new(self.inner.config.max_in_flight.max(1)));
        let shutdown = self.inner.shutdown.clone();
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = rx.recv() => match next { Some(p) => p, None => return },
            };
            let permit = tokio::select! {
                _ = shutdown.cancelled() => return,
                permit = in_flight.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            };
            // Take everything that queued up while we waited for a slot.
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let this = self.clone();
            tokio::spawn(async move {
                this.dispatch(batch).await;
                drop(permit);
            });
        }
    }

    async fn dispatch(&self, batch: Vec<Pending>) {
        let timeout = self.inner.config.request_timeout;
        let (leader, addr) = match self.leader() {
            Some(l) => l,
            None => return answer_all(batch, Error::Unavailable("no leader".into())),
        };
        if leader != self.inner.id {
            // Requests forwarded to us must not be forwarded again (views of the leader may
            // disagree for a moment; the sender retries).
            let (forward, refuse): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|p| p.route == Route::Forward);
            answer_all(refuse, Error::Unavailable("not the leader".into()));
            if forward.is_empty() {
                return;
            }
            let requests: Vec<(RequestId, &Command)> =
                forward.iter().map(|p| (p.id, &p.command)).collect();
            let url = format!("http://{addr}/kv/propose");
            match post::<_, Vec<RequestResult>>(
                &self.inner.http,
                &self.inner.cluster,
                &url,
                &requests,
                timeout,
            )
            .await
            {
                Ok(answers) if answers.len() == forward.len() => {
                    for (p, answer) in forward.into_iter().zip(answers) {
                        let _ = p.reply.send(answer);
                    }
                }
                Ok(answers) => answer_all(
                    forward,
                    Error::Unavailable(format!(
                        "leader answered {} of the forwarded requests",
                        answers.len()
                    )),
                ),
                Err(e) => answer_all(forward, transport_to_store(e)),
            }
            return;
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut requests = Vec::with_capacity(batch.len());
        for p in batch {
            requests.push((p.id, p.command));
            replies.push(p.reply);
        }
        let outcome =
            tokio::time::timeout(timeout, self.inner.raft.client_write(Proposal { requests }))
                .await;
        let failure = match outcome {
            Ok(Ok(resp)) => {
                for (reply, answer) in replies.into_iter().zip(resp.data.results) {
                    let _ = reply.send(answer);
                }
                return;
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                Error::Unavailable("not the leader".into())
            }
            Ok(Err(RaftError::APIError(e))) => Error::Unavailable(e.to_string()),
            Ok(Err(RaftError::Fatal(e))) => Error::Fatal(e.to_string()),
            Err(_) => Error::Timeout(format!(
                "no quorum acknowledged the write within {timeout:?}"
            )),
        };
        for reply in replies {
            let _ = reply.send(Err(failure.clone()));
        }
    }

    // ---- reads --------------------------------------------------------------------------

    /// Answer read-index requests, one leader round trip for everything queued meanwhile.
    async fn serve_read_index(self, mut rx: mpsc::Receiver<ReadIndexReply>) {
        let shutdown = self.inner.shutdown.clone();
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                next = rx.recv() => match next { Some(r) => r, None => return },
            };
            let mut waiters = vec![first];
            while let Ok(w) = rx.try_recv() {
                waiters.push(w);
            }
            let answer = self.fetch_read_index().await;
            for w in waiters {
                let _ = w.send(answer.clone());
            }
        }
    }

    /// The log index a linearizable read must wait for, from the leader.
    async fn fetch_read_index(&self) -> Result<u64> {
        let timeout = self.inner.config.request_timeout;
        match self.leader() {
            Some((leader, _)) if leader == self.inner.id => self.leader_read_index().await,
            Some((_, addr)) => {
                let url = format!("http://{addr}/kv/read-index");
                post::<_, Result<u64>>(&self.inner.http, &self.inner.cluster, &url, &(), timeout)
                    .await
                    .unwrap_or_else(|e| Err(transport_to_store(e)))
            }
            None => Err(Error::Unavailable("no leader".into())),
        }
    }

    /// On the leader: confirm leadership with a quorum and return the read index.
    pub(crate) async fn leader_read_index(&self) -> Result<u64> {
        let timeout = self.inner.config.request_timeout;
        match tokio::time::timeout(timeout, self.inner.raft.get_read_log_id()).await {
            Ok(Ok((read_log_id, _applied))) => Ok(read_index(read_log_id, self.inner.resumed)),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => {
                Err(Error::Unavailable("not the leader".into()))
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                Err(Error::Unavailable(format!("no quorum: {e}")))
            }
            Ok(Err(RaftError::Fatal(e))) => Err(Error::Fatal(e.to_string())),
            Err(_) => Err(Error::Timeout(format!(
                "leadership not confirmed within {timeout:?}"
            ))),
        }
    }

    /// Wait until this member has applied everything committed before the call.
    async fn read_barrier(&self) -> Result<()> {
        let deadline = Instant::now() + self.inner.config.request_timeout;
        loop {
            let (tx, rx) = oneshot::channel();
            self.inner
                .reads
                .send(tx)
                .await
                .map_err(|_| Error::Fatal("member stopped".into()))?;
            let index = match rx.await {
                Ok(Ok(index)) => index,
                Ok(Err(e)) if e.is_retryable() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(Error::Fatal("member stopped".into())),
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            return self
                .inner
                .raft
                .wait(Some(remaining))
                .applied_index_at_least(Some(index), "linearizable read")
                .await
                .map(|_| ())
                .map_err(|e| {
                    Error::Timeout(format!("state not caught up to log index {index}: {e}"))
                });
        }
    }

    // ---- membership ---------------------------------------------------------------------

    /// Add a learner (it receives the log but does not vote); waits until it has caught up.
    pub async fn add_learner(&self, id: NodeId, addr: String) -> Result<()> {
        self.on_leader(AdminRequest::AddLearner { id, addr }).await
    }

    /// Make exactly these members the voters (learners among them are promoted; voters left out
    /// become learners).
    pub async fn change_voters(&self, voters: BTreeSet<NodeId>) -> Result<()> {
        self.on_leader(AdminRequest::ChangeVoters { voters }).await
    }

    /// Remove members from the group entirely.
    pub async fn remove_members(&self, ids: BTreeSet<NodeId>) -> Result<()> {
        self.on_leader(AdminRequest::Remove { ids }).await
    }

    pub(crate) async fn on_leader(&self, req: AdminRequest) -> Result<()> {
        match self.leader() {
            Some((leader, _)) if leader == self.inner.id => self.admin_local(req).await,
            Some((_, addr)) => {
                let url = format!("http://{addr}/admin/membership-local");
                post::<_, Result<()>>(
                    &self.inner.http,
                    &self.inner.cluster,
                    &url,
                    &req,
                    Duration::from_secs(120),
                )
                .await
                .unwrap_or_else(|e| Err(transport_to_store(e)))
            }
            None => Err(Error::Unavailable("no leader".into())),
        }
    }

    pub(crate) async fn admin_local(&self, req: AdminRequest) -> Result<()> {
        let raft = &self.inner.raft;
        let result = match req {
            AdminRequest::AddLearner { id, addr } => {
                raft.add_learner(id, BasicNode { addr }, true).await
            }
            AdminRequest::ChangeVoters { voters } => raft.change_membership(voters, true).await,
            AdminRequest::Remove { ids } => {
                let voters: BTreeSet<NodeId> = {
                    let metrics = raft.metrics();
                    let m = metrics.borrow();
                    m.membership_config
                        .membership()
                        .voter_ids()
                        .filter(|v| !ids.contains(v))
                        .collect()
                };
                match raft.change_membership(voters, false).await {
                    Ok(_) => {
                        raft.change_membership(ChangeMembers::RemoveNodes(ids), false)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        result.map(|_| ()).map_err(|e| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => {
                Error::Unavailable("not the leader".into())
            }
            RaftError::APIError(e) => Error::InvalidArgument(e.to_string()),
            RaftError::Fatal(e) => Error::Fatal(e.to_string()),
        })
    }
}

/// A membership change, sent to the leader.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AdminRequest {
    AddLearner { id: NodeId, addr: String },
    ChangeVoters { voters: BTreeSet<NodeId> },
    Remove { ids: BTreeSet<NodeId> },
}

fn transport_to_store(e: TransportError) -> Error {
    Error::Unavailable(e.to_string())
}

#[async_trait::async_trait]
impl Store for RaftStore {
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        validate_txn(&txn)?;
        match self.propose(Command::Txn(txn)).await? {
            Applied::Txn(resp) => Ok(resp),
            Applied::Compacted => Err(Error::Fatal("unexpected answer to a transaction".into())),
        }
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        if req.consistency == Consistency::Linearizable {
            self.read_barrier().await?;
        }
        self.inner.local.range(&req)
    }

    async fn watch(&self, mut req: WatchRequest) -> Result<WatchStream> {
        if req.start_revision == 0 {
            // "From now" means after every write acknowledged before the call, not after what
            // this member happens to have applied.
            self.read_barrier().await?;
            req.start_revision = self.inner.local.revision() + 1;
        }
        self.inner.local.watch_stream(&req)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.propose(Command::Compact(revision)).await.map(|_| ())
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.read_barrier().await?;
        Ok(self.inner.local.revision())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LeaderId};

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn vote(term: u64, node: NodeId, committed: bool) -> Vote {
        Vote {
            leader_id: LeaderId::new(term, node),
            committed,
        }
    }

    #[test]
    fn only_its_own_committed_vote_is_resumed_leadership() {
        let last = Some(log_id(3, 40));
        assert_eq!(
            ResumedLeadership::of(1, Some(vote(3, 1, true)), last),
            Some(ResumedLeadership {
                term: 3,
                last_index: 40
            })
        );
        // Another member's leadership, a vote only granted, no vote, or an empty log: none.
        assert_eq!(ResumedLeadership::of(1, Some(vote(3, 2, true)), last), None);
        assert_eq!(
            ResumedLeadership::of(1, Some(vote(3, 1, false)), last),
            None
        );
        assert_eq!(ResumedLeadership::of(1, None, last), None);
        assert_eq!(ResumedLeadership::of(1, Some(vote(3, 1, true)), None), None);
    }

    #[test]
    fn in_a_resumed_term_reads_wait_for_the_log_end_at_start() {
        let resumed = Some(ResumedLeadership {
            term: 3,
            last_index: 40,
        });
        // The saved commit index (38) trails the acknowledged writes (up to 40).
        assert_eq!(read_index(Some(log_id(3, 38)), resumed), 40);
        // Once the commit index passes it, the commit index rules.
        assert_eq!(read_index(Some(log_id(3, 45)), resumed), 45);
        // A later term has its own blank entry after everything committed: no floor (the log
        // may have been cut below the old end, which would never be applied).
        assert_eq!(read_index(Some(log_id(4, 39)), resumed), 39);
        // A member that did not resume leadership reads at the commit index.
        assert_eq!(read_index(Some(log_id(3, 38)), None), 38);
        assert_eq!(read_index(None, None), 0);
    }
}
