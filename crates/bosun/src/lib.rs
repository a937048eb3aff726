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
pub mod own_binary;
pub mod scheduler;
pub mod signal;
pub mod store_member;
pub mod up;

/// jemalloc rather than glibc's malloc, for every binary built from this library: every
/// component builds and drops many small JSON and object trees; under glibc half the API
/// server's CPU went to malloc/free in a profile of `bench scheduler`, and memory freed between
/// live objects stayed resident (the scheduler held 291 MiB free for 77 MiB in use after a
/// backlog of pending pods).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
