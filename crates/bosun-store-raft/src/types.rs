//! The raft type configuration and what travels in the log.
//!
//! A log entry carries a [`Proposal`]: a batch of client requests, each with a [`RequestId`] so
//! that a request retried after a leader change is applied once (the state machine remembers the
//! recent ids and answers a repeat with the first answer).

use bosun_store::{Revision, Txn, TxnResponse};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Identifies a member of the raft group.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The openraft type configuration of bosun's store.
    pub TypeConfig:
        D = Proposal,
        R = ProposalResult,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = SnapshotFile,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;

/// A client request's identity, random per request and kept across its retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId(pub u64, pub u64);

impl RequestId {
    pub fn random() -> Self {
        Self(rand::random(), rand::random())
    }
}

/// One state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Txn(Txn),
    Compact(Revision),
}

/// What a command produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    Txn(TxnResponse),
    Compacted,
}

/// The answer to one request: the store's own errors (conflict, compacted...) are answers too.
pub type RequestResult = Result<Applied, bosun_store::Error>;

/// One log entry's worth of client requests, applied in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub requests: Vec<(RequestId, Command)>,
}

/// The answers to a proposal's requests, in the same order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalResult {
    pub results: Vec<RequestResult>,
}

/// A snapshot as openraft handles it: a file in the member's snapshot directory
/// (see [`crate::snapshot`] for its format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFile {
    pub path: PathBuf,
}
