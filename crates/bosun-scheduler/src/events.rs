//! The scheduler's Events (Scheduled, FailedScheduling, Preempted), built here, pure, and sent
//! through [`bosun_events::Recorder`]: best effort, never holding up a binding.

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

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

/// `record` as a core/v1 Event, ready for a [`bosun_events::Recorder`].
pub fn typed(record: &Record, component: &str, now: Timestamp) -> Option<Event> {
    serde_json::from_value(event(record, component, now)).ok()
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
}
