//! bosun's store contract and its in-process parts.
//!
//! Start with [`Store`] (the trait every backend implements, modelled on etcd's KV and Watch)
//! and [`types`] (keys, revisions, transactions, events). [`Mvcc`] is the multi-version state
//! machine, pure and without I/O; [`LocalStore`] puts it behind a lock with a watch hub and is
//! both the in-memory backend and the state the raft backend applies its log to.
//! [`conformance`] is the suite that every backend must pass.

pub mod conformance;
pub mod error;
pub mod local;
pub mod mvcc;
pub mod store;
pub mod types;

pub use error::{Error, Result};
pub use local::{LocalStore, MemoryStore};
pub use mvcc::{Mvcc, Version};
pub use store::{Store, WatchStream, validate_txn};
pub use types::*;
