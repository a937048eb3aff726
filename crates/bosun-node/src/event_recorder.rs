//! Events about pods, written by one task per agent: pod workers hand an Event over without
//! waiting, and when the writer falls behind (thousands of pods starting at once) events beyond
//! a bounded queue are dropped, as client-go's event broadcaster drops them. Status updates,
//! which the cluster acts on, so never queue behind Events.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, PostParams};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events waiting to be written, at most (client-go's `maxQueuedEvents`).
pub const MAX_QUEUED: usize = 1000;
/// Event creates in flight at once.
pub const CONCURRENT_WRITES: usize = 8;

/// The handle pod workers record Events with; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventRecorder {
    queue: mpsc::Sender<Event>,
}

impl EventRecorder {
    /// Start the writer; it ends when `stop` fires or every recorder is dropped.
    pub fn start(client: kube::Client, stop: CancellationToken) -> Self {
        let (queue, rx) = mpsc::channel(MAX_QUEUED);
        let span = tracing::info_span!("event_recorder");
        tokio::spawn(tracing::Instrument::instrument(
            write_all(client, rx, stop),
            span,
        ));
        Self { queue }
    }

    /// Queue an Event (its namespace set); dropped when the queue is full.
    pub fn record(&self, event: Event) {
        if let Err(mpsc::error::TrySendError::Full(e)) = self.queue.try_send(event) {
            tracing::debug!(reason = ?e.reason, "event queue full; event dropped");
        }
    }
}

async fn write_all(client: kube::Client, rx: mpsc::Receiver<Event>, stop: CancellationToken) {
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
        .buffer_unordered(CONCURRENT_WRITES)
        .for_each(|()| async {});
    tokio::select! {
        _ = stop.cancelled() => {}
        () = writes => {}
    }
}

fn receiver_stream(mut rx: mpsc::Receiver<Event>) -> impl futures::Stream<Item = Event> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
