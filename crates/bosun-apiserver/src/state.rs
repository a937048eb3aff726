//! The state every handler shares.

use crate::metrics::Metrics;
use crate::resource_metrics::SummaryCache;
use crate::watch_cache::{DEFAULT_WINDOW, WatchCaches};
use crate::watch_slots::{DEFAULT_MAX_WATCHES, WatchSlots};
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
    /// How to reach node agents (logs), when configured.
    kubelet: Option<reqwest::Client>,
    /// One watch cache per resource, made on first use.
    watch_caches: Arc<WatchCaches>,
    /// The node agents' usage summaries last fetched (metrics.k8s.io).
    summary_cache: Arc<SummaryCache>,
    /// The cap on open watches.
    watch_slots: Arc<WatchSlots>,
}

impl AppState {
    /// Store requests are timed into the metrics (`bosun_store_request_duration_seconds`).
    pub fn new(store: Arc<dyn Store>, tokens: TokenFile, address: String) -> Self {
        let metrics = Metrics::default();
        let store: Arc<dyn Store> =
            Arc::new(crate::metrics::MeteredStore::new(store, metrics.clone()));
        Self {
            inner: Arc::new(Inner {
                watch_caches: Arc::new(WatchCaches::new(store.clone(), DEFAULT_WINDOW)),
                summary_cache: Arc::default(),
                watch_slots: Arc::new(WatchSlots::new(DEFAULT_MAX_WATCHES, metrics.clone())),
                store,
                tokens,
                metrics,
                address,
                kubelet: None,
            }),
        }
    }

    /// With a client for node agents' endpoints.
    pub fn with_kubelet_client(self, client: Option<reqwest::Client>) -> Self {
        let inner = self.into_inner();
        Self {
            inner: Arc::new(Inner {
                kubelet: client,
                ..inner
            }),
        }
    }

    /// With at most `max` open watches (default [`DEFAULT_MAX_WATCHES`]).
    pub fn with_max_watches(self, max: usize) -> Self {
        let inner = self.into_inner();
        Self {
            inner: Arc::new(Inner {
                watch_slots: Arc::new(WatchSlots::new(max, inner.metrics.clone())),
                ..inner
            }),
        }
    }

    fn into_inner(self) -> Inner {
        Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            store: shared.store.clone(),
            tokens: shared.tokens.clone(),
            metrics: shared.metrics.clone(),
            address: shared.address.clone(),
            kubelet: shared.kubelet.clone(),
            watch_caches: shared.watch_caches.clone(),
            summary_cache: shared.summary_cache.clone(),
            watch_slots: shared.watch_slots.clone(),
        })
    }

    pub fn watch_slots(&self) -> &Arc<WatchSlots> {
        &self.inner.watch_slots
    }

    pub fn summary_cache(&self) -> &SummaryCache {
        &self.inner.summary_cache
    }
    pub fn watch_caches(&self) -> &WatchCaches {
        &self.inner.watch_caches
    }
    pub fn kubelet_client(&self) -> Option<&reqwest::Client> {
        self.inner.kubelet.as_ref()
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
