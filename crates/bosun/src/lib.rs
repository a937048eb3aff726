//! The `bosun` binary's library: each subcommand is a module that turns flags into a component's
//! config, runs it, and stops it cleanly on SIGINT/SIGTERM.
//!
//! Start at [`cli`] (the command tree). [`up`] runs a one-machine cluster and [`apiserver`]
//! one API server replica, both through [`control_plane`]; [`store_member`] runs one member of the embedded raft
//! store; [`bench`] holds the benchmarks (`bosun bench store`).

pub mod apiserver;
pub mod bench;
pub mod cli;
pub mod components;
pub mod control_plane;
pub mod controller_manager;
pub mod kube_client;
pub mod lb;
pub mod node;
pub mod scheduler;
pub mod signal;
pub mod store_member;
pub mod up;
