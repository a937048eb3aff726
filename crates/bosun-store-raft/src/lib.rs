//! bosun's default store: the [`bosun_store::Store`] trait replicated with openraft.
//!
//! Start with [`RaftStore`] (`member.rs`): it opens a data dir, binds the member port, runs raft
//! and serves the store. Underneath: [`log_store`] (the log and vote in redb, fsynced),
//! [`state_machine`] (committed entries applied to a `LocalStore`; persisted as [`snapshot`]
//! files), [`network`] and [`server`] (the member-to-member HTTP transport). [`RaftClient`] talks
//! to a group from outside.

pub mod client;
pub mod log_store;
pub mod member;
pub mod network;
pub mod server;
pub mod snapshot;
pub mod state_machine;
pub mod types;

pub use client::RaftClient;
pub use member::{MemberStatus, RaftConfig, RaftStore, StartError};
pub use types::NodeId;
