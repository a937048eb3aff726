//! The scheduler: for each pod without a node, filter the nodes that cannot run it, rank the
//! rest, bind the pod to the best; a pod that fits nowhere stays Pending with the reasons.
//!
//! Where to start reading:
//!
//! 1. [`framework`]: the decision for one pod, pure: filters and scores in kube-scheduler's
//!    terms, and the explanation kept with the pod.
//! 2. [`snapshot`]: nodes and what is requested on each (bound and assumed pods), the pods
//!    on each node, namespaces and images. The plugins that need more than one node at a
//!    time live in their own modules: [`inter_pod_affinity`], [`topology_spread`],
//!    [`image_locality`].
//! 3. [`queue`]: which pod to try next: priority, then age; back-off; unschedulable pods
//!    wait for a change that could help.
//! 4. [`scheduler`]: the I/O: watches, binding, status, leader election; [`events`]: Events
//!    sent best effort, never holding up a binding.
//! 5. [`preemption`]: DefaultPreemption, pure: the node and victims for a pod that fits nowhere.
//! 6. [`config`]: profiles from a `KubeSchedulerConfiguration` file; [`wire`]: the pods
//!    its watch decodes.

pub mod config;
pub mod events;
pub mod framework;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod preemption;
pub mod queue;
pub mod resources;
pub mod scheduler;
pub mod snapshot;
pub mod topology_spread;
pub mod wire;

pub use config::{ConfigError, SchedulerConfiguration};
pub use framework::{Decision, Explanation, Profile, ScoringStrategy, schedule};
pub use scheduler::{SchedulerConfig, run};
pub use snapshot::Snapshot;
