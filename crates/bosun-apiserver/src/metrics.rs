//! Prometheus metrics served at `/metrics`: requests by verb, resource and code with latency
//! histograms, open watches, and store latency.

use bosun_store::{
    RangeRequest, RangeResponse, Revision, Store, Txn, TxnResponse, WatchRequest, WatchStream,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub resource: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    pub verb: String,
    pub resource: String,
}

/// The API server's metrics. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<VerbLabels, Histogram>,
    watches: Gauge,
    store_watches: Family<ResourceLabels, Counter>,
    store_latency: Family<StoreLabels, Histogram>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<VerbLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let watches = Gauge::default();
        let store_watches = Family::<ResourceLabels, Counter>::default();
        let store_latency = Family::<StoreLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "bosun_store_request_duration_seconds",
            "Store request latency by operation (txn, range, watch, compact, current_revision), as the API server sees it",
            store_latency.clone(),
        );
        registry.register(
            "apiserver_request",
            "API requests by verb, resource and HTTP code",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "API request latency by verb and resource (watches: until the response starts)",
            latency.clone(),
        );
        registry.register(
            "apiserver_open_watches",
            "Watches being served",
            watches.clone(),
        );
        registry.register(
            "apiserver_watches_from_store",
            "Watches whose changes came from a store watch of their own (each change decoded again for them alone), not the watch cache: the cache was not loaded yet, or its window started after the watch's resourceVersion",
            store_watches.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                latency,
                watches,
                store_watches,
                store_latency,
            }),
        }
    }
}

impl Metrics {
    pub fn observe(&self, verb: &str, resource: &str, code: u16, seconds: f64) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                verb: verb.into(),
                resource: resource.into(),
                code: code.to_string(),
            })
            .inc();
        self.inner
            .latency
            .get_or_create(&VerbLabels {
                verb: verb.into(),
                resource: resource.into(),
            })
            .observe(seconds);
    }

    pub fn observe_store(&self, operation: &'static str, seconds: f64) {
        self.inner
            .store_latency
            .get_or_create(&StoreLabels { operation })
            .observe(seconds);
    }

    pub fn watch_opened(&self) {
        self.inner.watches.inc();
    }

    pub fn watch_closed(&self) {
        self.inner.watches.dec();
    }

    /// A watch of `resource` served by a store watch of its own.
    pub fn watch_from_store(&self, resource: &str) {
        self.inner
            .store_watches
            .get_or_create(&ResourceLabels {
                resource: resource.into(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A [`Store`] that records how long each of its requests takes in [`Metrics`].
#[derive(Debug)]
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    metrics: Metrics,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    async fn timed<T>(&self, operation: &'static str, f: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = f.await;
        self.metrics
            .observe_store(operation, started.elapsed().as_secs_f64());
        out
    }
}

#[async_trait::async_trait]
impl Store for MeteredStore {
    async fn txn(&self, txn: Txn) -> bosun_store::Result<TxnResponse> {
        self.timed("txn", self.inner.txn(txn)).await
    }
    async fn range(&self, req: RangeRequest) -> bosun_store::Result<RangeResponse> {
        self.timed("range", self.inner.range(req)).await
    }
    async fn watch(&self, req: WatchRequest) -> bosun_store::Result<WatchStream> {
        self.timed("watch", self.inner.watch(req)).await
    }
    async fn compact(&self, revision: Revision) -> bosun_store::Result<()> {
        self.timed("compact", self.inner.compact(revision)).await
    }
    async fn current_revision(&self) -> bosun_store::Result<Revision> {
        self.timed("current_revision", self.inner.current_revision())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_store::{MemoryStore, Op};

    #[tokio::test]
    async fn store_requests_are_timed_by_operation() {
        let metrics = Metrics::default();
        let store = MeteredStore::new(Arc::new(MemoryStore::default()), metrics.clone());
        store
            .txn(Txn::new().and_then([Op::put("/k", "v")]))
            .await
            .expect("txn");
        store.range(RangeRequest::prefix("/")).await.expect("range");
        store.range(RangeRequest::prefix("/")).await.expect("range");
        let text = metrics.render();
        assert!(
            text.contains("bosun_store_request_duration_seconds_count{operation=\"txn\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("bosun_store_request_duration_seconds_count{operation=\"range\"} 2"),
            "{text}"
        );
    }
}
