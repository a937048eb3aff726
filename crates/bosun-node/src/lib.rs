//! The node agent, bosun's kubelet.
//!
//! Where to start reading:
//!
//! 1. [`runtime`]: the [`ContainerRuntime`] boundary and its implementations (process,
//!    simulated, docker).
//! 2. [`lifecycle`]: a pod's lifecycle as pure decisions (what to start or kill, the status to
//!    report).
//! 3. [`pod_worker`]: one task per pod that runs those decisions against the runtime.
//! 4. [`agent`]: registration, the Lease heartbeat, the watch on this node's pods.

pub mod agent;
pub mod busybox_image;
pub mod cgroups;
pub mod env;
pub mod exec;
pub mod ip_pool;
pub mod lifecycle;
pub mod node_status;
pub mod pod_worker;
pub mod probe;
pub mod runtime;
pub mod server;
pub mod shim;
pub mod stats;

pub use agent::{Agent, AgentConfig};
pub use runtime::{ContainerRuntime, RuntimeError};
