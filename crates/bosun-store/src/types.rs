//! The data model of the store: keys, values, revisions, transactions, ranges and watch events.
//!
//! It mirrors etcd's v3 KV model so that the etcd backend maps 1:1 and the embedded raft backend
//! behaves identically: one global revision that increases by one for every transaction that
//! changes something, and per key a create revision, a mod revision and a version.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A store revision. Revision 0 means "none" (a key that does not exist has create revision 0).
pub type Revision = i64;

/// The largest value a single put may carry (etcd's default request limit).
pub const MAX_VALUE_BYTES: usize = 3 * 512 * 1024;

/// One key with the metadata etcd keeps for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: Bytes,
    pub value: Bytes,
    /// The revision of the transaction that created this key (in its current incarnation).
    pub create_revision: Revision,
    /// The revision of the last transaction that changed this key.
    pub mod_revision: Revision,
    /// How many times the key was written since it was created (1 after creation).
    pub version: i64,
}

/// What a comparison in a transaction looks at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    /// The key's mod revision (0 when the key does not exist).
    ModRevision(Revision),
    /// The key's create revision (0 when the key does not exist).
    CreateRevision(Revision),
    /// The key's version (0 when the key does not exist).
    Version(i64),
    /// The key's value (an absent key never compares equal).
    Value(Bytes),
}

/// How a comparison compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// One guard of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    pub key: Bytes,
    pub op: CompareOp,
    pub target: CompareTarget,
}

impl Compare {
    /// `mod_revision(key) == rev`; with `rev == 0` this means "the key does not exist".
    pub fn mod_revision(key: impl Into<Bytes>, rev: Revision) -> Self {
        Self {
            key: key.into(),
            op: CompareOp::Equal,
            target: CompareTarget::ModRevision(rev),
        }
    }
    /// `create_revision(key) == 0`: the key does not exist.
    pub fn absent(key: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            op: CompareOp::Equal,
            target: CompareTarget::CreateRevision(0),
        }
    }
    /// `create_revision(key) != 0`: the key exists.
    pub fn exists(key: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            op: CompareOp::NotEqual,
            target: CompareTarget::CreateRevision(0),
        }
    }
}

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Write `value` at `key`; the result carries the previous value.
    Put { key: Bytes, value: Bytes },
    /// Remove `key`; the result carries the removed value (None when there was none).
    Delete { key: Bytes },
    /// Read `key` at the transaction's revision.
    Get { key: Bytes },
}

impl Op {
    pub fn put(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Op::Put {
            key: key.into(),
            value: value.into(),
        }
    }
    pub fn delete(key: impl Into<Bytes>) -> Self {
        Op::Delete { key: key.into() }
    }
    pub fn get(key: impl Into<Bytes>) -> Self {
        Op::Get { key: key.into() }
    }
    pub fn key(&self) -> &Bytes {
        match self {
            Op::Put { key, .. } | Op::Delete { key } | Op::Get { key } => key,
        }
    }
}

/// A compare-and-apply transaction: if every comparison holds, `success` runs, else `failure`.
/// All writes of a transaction share one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub compare: Vec<Compare>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
}

impl Txn {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn when(mut self, compare: impl IntoIterator<Item = Compare>) -> Self {
        self.compare.extend(compare);
        self
    }
    pub fn and_then(mut self, ops: impl IntoIterator<Item = Op>) -> Self {
        self.success.extend(ops);
        self
    }
    pub fn or_else(mut self, ops: impl IntoIterator<Item = Op>) -> Self {
        self.failure.extend(ops);
        self
    }
    /// True when neither branch writes anything.
    pub fn is_read_only(&self) -> bool {
        self.success
            .iter()
            .chain(&self.failure)
            .all(|op| matches!(op, Op::Get { .. }))
    }
}

/// The result of one operation of a transaction, in the order of the operations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    Put { prev: Option<KeyValue> },
    Delete { prev: Option<KeyValue> },
    Get { kv: Option<KeyValue> },
}

/// The result of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    /// Whether the comparisons held (and so `success` ran).
    pub succeeded: bool,
    /// The store revision after the transaction (its own revision when it wrote something).
    pub revision: Revision,
    pub results: Vec<OpResult>,
}

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Consistency {
    /// The read sees every write acknowledged before it started (etcd's default).
    #[default]
    Linearizable,
    /// The read is served from the local replica, which may lag (for caches).
    Serializable,
}

/// A read of every key under a prefix, in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeRequest {
    /// Every key starting with these bytes (empty: every key).
    pub prefix: Bytes,
    /// Start at this key (inclusive) instead of the prefix's first key; for pagination.
    pub start: Option<Bytes>,
    /// At most this many keys (0: no limit).
    pub limit: usize,
    /// Read at this revision instead of the latest (0: latest).
    pub revision: Revision,
    pub consistency: Consistency,
}

impl RangeRequest {
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
    pub fn with_start(mut self, start: impl Into<Bytes>) -> Self {
        self.start = Some(start.into());
        self
    }
    pub fn at_revision(mut self, revision: Revision) -> Self {
        self.revision = revision;
        self
    }
    pub fn serializable(mut self) -> Self {
        self.consistency = Consistency::Serializable;
        self
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// More keys follow the last one returned (the limit cut the answer).
    pub more: bool,
    /// How many keys the range holds from `start` on, ignoring the limit.
    pub count: usize,
    /// The store revision the read was served at.
    pub revision: Revision,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// For a put, the new key-value; for a delete, the key with an empty value and
    /// `mod_revision` set to the revision of the delete.
    pub kv: KeyValue,
    /// The key-value before this change, if the key existed.
    pub prev: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// Watch every key under `prefix`, starting at `start_revision`
/// (0: only changes after the current revision).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRequest {
    pub prefix: Bytes,
    pub start_revision: Revision,
}

impl WatchRequest {
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        Self {
            prefix: prefix.into(),
            start_revision: 0,
        }
    }
    pub fn from_revision(mut self, revision: Revision) -> Self {
        self.start_revision = revision;
        self
    }
}

/// The first key after every key that starts with `prefix` (etcd's `range_end` for a prefix);
/// `None` when the prefix is empty or all 0xff (the range is open-ended).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_that_can_be() {
        assert_eq!(prefix_end(b"/a/"), Some(b"/a0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
