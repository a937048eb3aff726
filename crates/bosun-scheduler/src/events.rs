//! Events, sent as client-go's recorder sends them: best effort. Recording never waits: an
//! Event goes into a bounded queue and one writer posts the queue in order. When the queue is
//! full (a burst of thousands of bindings) the Event is dropped and counted, so that Events
//! never take the store's capacity from the bindings they describe. kube-scheduler's
//! broadcaster does the same (a queue of 1,000, dropped when full, one sink writer).

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The queue's length, as client-go's `maxQueuedEvents`.
pub const QUEUE: usize = 1000;

/// The object an Event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Involved {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Involved {
    pub fn pod(pod: &k8s_openapi::api::core::v1::Pod) -> Self {
        Self {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        }
    }
}

/// One Event to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub involved: Involved,
    pub type_: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// The core/v1 Event for `record`, stamped `now`, from `component`.
pub fn event(record: &Record, component: &str, now: Timestamp) -> Value {
    let Involved {
        namespace,
        name,
        uid,
    } = &record.involved;
    let now = now.to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": format!("{name}."), "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": namespace, "uid": uid},
        "type": record.type_,
        "reason": record.reason,
        "message": record.message,
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": component},
        "reportingComponent": component,
    })
}

/// Hands Events to the writer; cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: Option<mpsc::Sender<Record>>,
    dropped: Arc<AtomicU64>,
}

impl Recorder {
    /// A recorder that records nothing (Events turned off).
    pub fn disabled() -> Self {
        Self {
            tx: None,
            dropped: Arc::default(),
        }
    }

    /// A recorder whose queue holds `capacity` Events, and its writer: run the writer (until
    /// `stop`, or until every recorder is dropped and the queue drained).
    pub fn new(capacity: usize) -> (Self, Writer) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                tx: Some(tx),
                dropped: Arc::default(),
            },
            Writer { rx },
        )
    }

    /// Queue an Event; drop it when the queue is full. Never waits.
    pub fn record(&self, record: Record) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Posts queued Events one at a time.
#[derive(Debug)]
pub struct Writer {
    rx: mpsc::Receiver<Record>,
}

impl Writer {
    pub async fn run(mut self, client: kube::Client, component: String, stop: CancellationToken) {
        loop {
            let record = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.rx.recv() => match r { Some(r) => r, None => break },
            };
            let body = event(&record, &component, Timestamp::now());
            let api: kube::Api<k8s_openapi::api::core::v1::Event> =
                kube::Api::namespaced(client.clone(), &record.involved.namespace);
            let Ok(body) = serde_json::from_value(body) else {
                continue;
            };
            if let Err(e) = api.create(&kube::api::PostParams::default(), &body).await {
                tracing::debug!(reason = record.reason, pod = %record.involved.name, error = %e, "event not recorded");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> Record {
        Record {
            involved: Involved {
                namespace: "default".into(),
                name: name.into(),
                uid: "u1".into(),
            },
            type_: "Normal",
            reason: "Scheduled",
            message: "Successfully assigned default/p to n1".into(),
        }
    }

    #[test]
    fn the_event_names_the_pod_and_the_component() {
        let now: Timestamp = "2026-11-27T10:00:00Z".parse().expect("timestamp");
        let e = event(&record("p"), "default-scheduler", now);
        assert_eq!(e["metadata"]["generateName"], "p.");
        assert_eq!(e["metadata"]["namespace"], "default");
        assert_eq!(e["involvedObject"]["kind"], "Pod");
        assert_eq!(e["involvedObject"]["uid"], "u1");
        assert_eq!(e["reason"], "Scheduled");
        assert_eq!(e["type"], "Normal");
        assert_eq!(e["source"]["component"], "default-scheduler");
        assert_eq!(e["reportingComponent"], "default-scheduler");
        assert_eq!(e["firstTimestamp"], "2026-11-27T10:00:00Z");
        assert_eq!(e["lastTimestamp"], e["firstTimestamp"]);
        // It is a valid core/v1 Event.
        let _: k8s_openapi::api::core::v1::Event =
            serde_json::from_value(e).expect("a valid Event");
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (rec, mut writer) = Recorder::new(2);
        for i in 0..5 {
            rec.record(record(&format!("p{i}")));
        }
        assert_eq!(rec.dropped(), 3);
        // The first two are kept, in order.
        assert_eq!(writer.rx.recv().await.expect("queued").involved.name, "p0");
        assert_eq!(writer.rx.recv().await.expect("queued").involved.name, "p1");
        // Room again.
        rec.record(record("p5"));
        assert_eq!(rec.dropped(), 3);
        assert_eq!(writer.rx.recv().await.expect("queued").involved.name, "p5");
    }

    #[test]
    fn a_disabled_recorder_keeps_nothing() {
        let rec = Recorder::disabled();
        rec.record(record("p"));
        assert_eq!(rec.dropped(), 0);
    }
}
