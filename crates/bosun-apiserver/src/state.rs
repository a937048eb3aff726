//! The state every handler shares.

use crate::metrics::Metrics;
use bosun_pki::TokenFile;
use bosun_store::Store;
use std::sync::Arc;

/// Shared by every request. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    tokens: TokenFile,
    metrics: Metrics,
    /// What `/api` reports as the server address.
    address: String,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, tokens: TokenFile, address: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                tokens,
                metrics: Metrics::default(),
                address,
            }),
        }
    }
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }
    pub fn store_arc(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }
    pub fn tokens(&self) -> &TokenFile {
        &self.inner.tokens
    }
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
    pub fn address(&self) -> &str {
        &self.inner.address
    }
}
