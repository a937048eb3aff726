//! Each controller's adapter between the caches and its pure decision.

/// Every controller bosun runs.
pub fn all() -> Vec<std::sync::Arc<dyn crate::Controller>> {
    Vec::new()
}
