//! Recording Events from a component (the node agent, the scheduler), best effort, as
//! client-go's event broadcaster does: recording never waits. An Event goes into a bounded
//! queue and a writer posts the queue with a few creates in flight; when the writer falls
//! behind (thousands of pods bound or started at once) Events beyond the queue are dropped and
//! counted, so Events never hold up, or take the store's capacity from, the writes the cluster
//! acts on (bindings, pod status).
//!
//! Start with [`Recorder::start`]; components build their `core/v1` Events themselves.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, PostParams};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events waiting to be written, at most (client-go's `maxQueuedEvents`).
pub const MAX_QUEUED: usize = 1000;

/// The handle Events are recorded with; cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    queue: Option<mpsc::Sender<Event>>,
    dropped: Arc<AtomicU64>,
}

impl Recorder {
    /// A recorder and its writer posting with `concurrency` creates in flight; the writer ends
    /// when `stop` fires or every recorder is dropped.
    pub fn start(client: kube::Client, concurrency: usize, stop: CancellationToken) -> Self {
        let (recorder, rx) = Self::queue(MAX_QUEUED);
        let span = tracing::info_span!("event_recorder");
        tokio::spawn(tracing::Instrument::instrument(
            write_all(client, rx, concurrency.max(1), stop),
            span,
        ));
        recorder
    }

    /// A recorder that records nothing (Events turned off).
    pub fn disabled() -> Self {
        Self {
            queue: None,
            dropped: Arc::default(),
        }
    }

    fn queue(capacity: usize) -> (Self, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                queue: Some(tx),
                dropped: Arc::default(),
            },
            rx,
        )
    }

    /// Queue an Event (its namespace set); dropped, and counted, when the queue is full.
    pub fn record(&self, event: Event) {
        self.record_with(|| Some(event));
    }

    /// Queue the Event `build` makes, building it only when the queue has room: under a burst
    /// most Events are dropped, and building each first (a message, timestamps, a typed
    /// Event) cost the scheduler a twentieth of its CPU for nothing.
    pub fn record_with(&self, build: impl FnOnce() -> Option<Event>) {
        let Some(queue) = &self.queue else { return };
        match queue.try_reserve() {
            Ok(permit) => {
                if let Some(event) = build() {
                    permit.send(event);
                }
            }
            Err(mpsc::error::TrySendError::Full(())) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("event queue full; event dropped");
            }
            Err(mpsc::error::TrySendError::Closed(())) => {}
        }
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_all(
    client: kube::Client,
    rx: mpsc::Receiver<Event>,
    concurrency: usize,
    stop: CancellationToken,
) {
    let writes = receiver_stream(rx)
        .map(|event| {
            let ns = event.metadata.namespace.clone().unwrap_or_default();
            let api: Api<Event> = Api::namespaced(client.clone(), &ns);
            async move {
                if let Err(e) = api.create(&PostParams::default(), &event).await {
                    tracing::debug!(error = %e, "event not recorded");
                }
            }
        })
        .buffer_unordered(concurrency)
        .for_each(|()| async {});
    tokio::select! {
        _ = stop.cancelled() => {}
        () = writes => {}
    }
}

fn receiver_stream(mut rx: mpsc::Receiver<Event>) -> impl futures::Stream<Item = Event> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> Event {
        let mut e = Event::default();
        e.metadata.name = Some(name.into());
        e.metadata.namespace = Some("default".into());
        e.reason = Some("Scheduled".into());
        e
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (rec, mut rx) = Recorder::queue(2);
        for i in 0..5 {
            rec.record(event(&format!("e{i}")));
        }
        assert_eq!(rec.dropped(), 3);
        // The first two are kept, in order.
        let name = |e: Option<Event>| e.and_then(|e| e.metadata.name);
        assert_eq!(name(rx.recv().await).as_deref(), Some("e0"));
        assert_eq!(name(rx.recv().await).as_deref(), Some("e1"));
        // Room again.
        rec.record(event("e5"));
        assert_eq!(rec.dropped(), 3);
        assert_eq!(name(rx.recv().await).as_deref(), Some("e5"));
    }

    #[tokio::test]
    async fn an_event_is_built_only_when_the_queue_has_room() {
        let (rec, mut rx) = Recorder::queue(1);
        let built = std::cell::Cell::new(0);
        let build = |name: &'static str| {
            built.set(built.get() + 1);
            Some(event(name))
        };
        rec.record_with(|| build("e0"));
        rec.record_with(|| build("e1"));
        rec.record_with(|| build("e2"));
        assert_eq!((built.get(), rec.dropped()), (1, 2));
        let name = |e: Option<Event>| e.and_then(|e| e.metadata.name);
        assert_eq!(name(rx.recv().await).as_deref(), Some("e0"));
        // A builder that makes nothing takes no place.
        rec.record_with(|| None);
        rec.record_with(|| build("e3"));
        assert_eq!(name(rx.recv().await).as_deref(), Some("e3"));
        assert_eq!(rec.dropped(), 2);
        Recorder::disabled().record_with(|| build("never"));
        assert_eq!(built.get(), 2);
    }

    #[test]
    fn a_disabled_recorder_keeps_nothing() {
        let rec = Recorder::disabled();
        rec.record(event("e"));
        assert_eq!(rec.dropped(), 0);
    }
}
