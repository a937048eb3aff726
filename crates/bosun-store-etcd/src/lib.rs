//! The etcd backend of [`bosun_store::Store`], for users who run their own etcd cluster, and a
//! launcher of real etcd servers for tests and benchmarks.
//!
//! This crate owns the mapping of the store contract onto etcd v3 and nothing else: no state of
//! its own, no retries, no caching. Start reading at [`EtcdStore`] (`store.rs`): every trait
//! method is one etcd call (transactions are etcd transactions, revisions are etcd's), so the
//! conformance suite (`tests/etcd_conformance.rs`) holds etcd and the embedded raft store to the
//! same meaning. [`status`] says how etcd's errors become the store's retryable, refused or fatal
//! errors. [`process`] starts real etcd servers on loopback ([`EtcdCluster`]), on ports from
//! [`ports`], which the end-to-end tests and the benchmarks use for their own servers too.

pub mod ports;
pub mod process;
pub mod status;
pub mod store;

pub use process::{EtcdCluster, EtcdProcess};
pub use store::EtcdStore;
