//! Each controller's adapter between the caches and its pure decision.

use std::sync::Arc;
use std::time::Duration;

/// Settings the controllers share.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Node monitor grace period: a Lease older than this makes its node unreachable.
    pub node_grace: Duration,
    /// tolerationSeconds given to pods without their own toleration for unreachable nodes.
    pub default_toleration: Duration,
}

/// Every controller bosun runs.
pub fn all(settings: &Settings) -> Vec<Arc<dyn crate::Controller>> {
    let _ = settings;
    Vec::new()
}
