//! The etcd backend of [`bosun_store::Store`], for users who run their own etcd cluster.
//!
//! Start with [`EtcdStore`] (`store.rs`): every trait method is one etcd v3 call (transactions
//! are etcd transactions, revisions are etcd's), so the conformance suite holds etcd and the
//! embedded raft store to the same meaning. [`process`] starts real etcd servers on loopback for
//! tests and benchmarks.

pub mod process;
pub mod store;

pub use store::EtcdStore;
