//! The controller manager's runner: the I/O around the pure decisions of `bosun-controllers`.
//!
//! Where to start reading:
//!
//! 1. [`manager`]: the [`Controller`] trait, work queues, expectations, and the loop.
//! 2. [`caches`]: one watch-fed cache per kind and the [`Change`]s they emit.
//! 3. [`executor`]: how an Action becomes a request to the API server; [`events`]: how
//!    Events are aggregated and rate-limited before they are written.
//! 4. [`controllers`]: each controller's adapter: which keys a change concerns, and which
//!    observed objects its decision gets.
//! 5. [`autoscaler`]: the HorizontalPodAutoscaler runner, periodic rather than change-driven,
//!    reading usage from metrics.k8s.io.

pub mod autoscaler;
pub mod caches;
pub mod controllers;
pub mod events;
pub mod executor;
pub mod manager;

pub use caches::{Caches, Change};
pub use manager::{Controller, ManagerConfig, run};
