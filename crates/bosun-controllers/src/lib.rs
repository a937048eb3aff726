//! The controller-manager's decisions, without I/O. Every controller is a pure function from the
//! objects it observes (and the time, passed in) to the [`Action`]s that bring observed state
//! towards desired state; the runner in the `bosun` binary performs them against the API server
//! and feeds the results back in through its watches.
//!
//! Where to start reading:
//!
//! 1. [`action`]: what a decision can ask for — create, delete, patch an object, update a status,
//!    record an Event — and [`Reconcile`], a decision plus when to look again.
//! 2. [`pod_state`]: the facts about pods every workload controller needs (ready, available,
//!    active, owned by whom).
//! 3. [`pod`] and [`node`]: pods and Nodes as the controllers read them (the fields they use,
//!    with `k8s_openapi`'s names), which is what the controller manager caches.
//! 4. One module per controller, each with a `reconcile` entry point.

pub mod action;
pub mod controller_revision;
pub mod cron;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpoint_slice;
pub mod endpoints;
pub mod garbage_collector;
pub mod hpa;
pub mod invalid_spec;
pub mod job;
pub mod node;
pub mod node_lifecycle;
pub mod pod;
pub mod pod_gc;
pub mod pod_state;
pub mod pod_template;
pub mod replicaset;
pub mod selector;
pub mod statefulset;

pub use action::{Action, EventType, Reconcile, Target};
