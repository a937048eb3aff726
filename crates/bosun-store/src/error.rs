//! The one error type of the store contract.
//!
//! Errors fall in three groups, and callers act on the group, not the text:
//! - answers about the data ([`Error::NotFound`], [`Error::AlreadyExists`], [`Error::Conflict`],
//!   [`Error::Compacted`], [`Error::FutureRevision`], [`Error::InvalidArgument`],
//!   [`Error::ValueTooLarge`]): the request was understood and refused; retrying it unchanged
//!   gives the same answer;
//! - retryable conditions ([`Error::Unavailable`], [`Error::Timeout`]): no quorum, no leader, a
//!   peer out of reach; the same request may succeed later (see [`Error::is_retryable`]);
//! - [`Error::Fatal`]: this store member has stopped (storage failure, shutdown) and will not
//!   serve again; the caller should fail over or exit.

use crate::types::Revision;
use bytes::Bytes;

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum Error {
    /// The key does not exist.
    #[error("key {} not found", show(key))]
    NotFound { key: Bytes },
    /// A create found the key already present.
    #[error("key {} already exists", show(key))]
    AlreadyExists { key: Bytes },
    /// A conditional write found the key at another mod revision (0: the key is absent).
    #[error(
        "conflict on key {}: expected mod revision {expected}, found {current} (store revision {revision})",
        show(key)
    )]
    Conflict {
        key: Bytes,
        expected: Revision,
        current: Revision,
        revision: Revision,
    },
    /// The requested revision is older than the compaction point.
    #[error("revision {requested} has been compacted (compacted up to {compact_revision})")]
    Compacted {
        requested: Revision,
        compact_revision: Revision,
    },
    /// The requested revision is newer than the store's.
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    /// A value larger than [`crate::MAX_VALUE_BYTES`].
    #[error(
        "value of {size} bytes for key {} exceeds the limit of {max} bytes",
        show(key)
    )]
    ValueTooLarge { key: Bytes, size: usize, max: usize },
    /// A malformed request (empty key, a key written twice in one transaction...).
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    /// No leader, no quorum or a peer out of reach: retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The request did not finish in time; a write may or may not have been applied.
    #[error("store request timed out: {0}")]
    Timeout(String),
    /// This member has stopped and will not serve again.
    #[error("store member stopped: {0}")]
    Fatal(String),
}

impl Error {
    /// True for conditions that may clear by themselves (no leader, no quorum, timeout).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Timeout(_))
    }

    /// True when this member will never serve again.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Fatal(_))
    }
}

/// Keys are usually UTF-8 paths; print them as text when they are, as escaped bytes otherwise.
fn show(key: &Bytes) -> String {
    match std::str::from_utf8(key) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("{key:?}"),
    }
}
