//! [`RaftClient`]: a remote client of a raft group over the members' ports (transactions and
//! ranges), for benchmarks and tools. Requests go to the members in turn; members forward writes
//! to the leader themselves.

use crate::member::AdminRequest;
use crate::network::{TransportError, http_client, post};
use crate::types::NodeId;
use bosun_store::{Error, RangeRequest, RangeResponse, Result, Txn, TxnResponse};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct RaftClient {
    http: reqwest::Client,
    cluster: Arc<str>,
    members: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    timeout: Duration,
}

impl RaftClient {
    /// A client of `cluster` reaching its members at `members` (`host:port` of member ports).
    pub fn new(cluster: &str, members: Vec<String>) -> Self {
        Self {
            http: http_client(None),
            cluster: Arc::from(cluster),
            members: Arc::new(members),
            next: Arc::new(AtomicUsize::new(0)),
            timeout: Duration::from_secs(10),
        }
    }

    /// A client that always talks to the member at `index`.
    pub fn pinned(&self, index: usize) -> Self {
        let mut c = self.clone();
        c.next = Arc::new(AtomicUsize::new(index));
        c.members = Arc::new(vec![self.members[index % self.members.len()].clone()]);
        c
    }

    fn member(&self) -> String {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.members[i % self.members.len()].clone()
    }

    pub async fn txn(&self, txn: &Txn) -> Result<TxnResponse> {
        let url = format!("http://{}/kv/txn", self.member());
        post::<_, Result<TxnResponse>>(&self.http, &self.cluster, &url, txn, self.timeout)
            .await
            .unwrap_or_else(|e| Err(unavailable(e)))
    }

    pub async fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        let url = format!("http://{}/kv/range", self.member());
        post::<_, Result<RangeResponse>>(&self.http, &self.cluster, &url, req, self.timeout)
            .await
            .unwrap_or_else(|e| Err(unavailable(e)))
    }
}

fn unavailable(e: TransportError) -> Error {
    Error::Unavailable(e.to_string())
}

/// Membership changes of a running group, sent to any member (it forwards them to the leader).
#[derive(Clone, Debug)]
pub struct RaftAdmin {
    http: reqwest::Client,
    cluster: Arc<str>,
    member: String,
}

impl RaftAdmin {
    pub fn new(cluster: &str, member: &str) -> Self {
        Self {
            http: http_client(None),
            cluster: Arc::from(cluster),
            member: member.to_string(),
        }
    }

    async fn send(&self, req: AdminRequest) -> Result<()> {
        let url = format!("http://{}/admin/membership", self.member);
        post::<_, Result<()>>(
            &self.http,
            &self.cluster,
            &url,
            &req,
            Duration::from_secs(120),
        )
        .await
        .unwrap_or_else(|e| Err(unavailable(e)))
    }

    /// Add a learner and wait until it has caught up.
    pub async fn add_learner(&self, id: NodeId, addr: String) -> Result<()> {
        self.send(AdminRequest::AddLearner { id, addr }).await
    }

    /// Make exactly these members the voters.
    pub async fn change_voters(&self, voters: BTreeSet<NodeId>) -> Result<()> {
        self.send(AdminRequest::ChangeVoters { voters }).await
    }

    /// Remove members from the group.
    pub async fn remove_members(&self, ids: BTreeSet<NodeId>) -> Result<()> {
        self.send(AdminRequest::Remove { ids }).await
    }
}
