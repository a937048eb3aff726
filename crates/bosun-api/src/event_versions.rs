//! The two APIs of one Event: core/v1 `Event` and events.k8s.io/v1 `Event` share storage, as
//! in Kubernetes. Events are stored in their core/v1 form; these pure functions convert between
//! the forms the way upstream's conversion does (`pkg/apis/events/v1/conversion.go`):
//!
//! | events.k8s.io/v1 | core/v1 |
//! |---|---|
//! | `regarding` | `involvedObject` |
//! | `note` | `message` |
//! | `reportingController` | `reportingComponent` |
//! | `reportingInstance` | `reportingInstance` |
//! | `deprecatedSource` | `source` |
//! | `deprecatedFirstTimestamp` | `firstTimestamp` |
//! | `deprecatedLastTimestamp` | `lastTimestamp` |
//! | `deprecatedCount` | `count` |
//! | `related`, `series`, `eventTime`, `action`, `reason`, `type`, `metadata` | the same |
//!
//! One addition: a core Event written by an old-style recorder carries only `source`; its
//! events.k8s.io view gets `reportingController` from `source.component` and
//! `reportingInstance` from `source.host` when they are unset (which is what kubectl shows as
//! the event's origin either way).

use serde_json::{Map, Value};

/// The apiVersion of the events.k8s.io form.
pub const EVENTS_V1: &str = "events.k8s.io/v1";

/// Renamed fields: (events.k8s.io/v1 name, core/v1 name).
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Fields with the same name in both forms.
const SHARED: &[&str] = &[
    "metadata",
    "related",
    "series",
    "eventTime",
    "action",
    "reason",
    "type",
    "reportingInstance",
];

/// A core/v1 Event as events.k8s.io/v1. Fields neither form knows are dropped; a value that
/// is no object comes back as it is (validation reports it).
pub fn core_to_events_v1(core: Value) -> Value {
    let Value::Object(mut from) = core else {
        return core;
    };
    let mut out = Map::new();
    out.insert("kind".into(), Value::from("Event"));
    out.insert("apiVersion".into(), Value::from(EVENTS_V1));
    for field in SHARED {
        if let Some(v) = from.remove(*field) {
            out.insert((*field).into(), v);
        }
    }
    for (v1, core) in RENAMED {
        if let Some(v) = from.remove(*core) {
            out.insert((*v1).into(), v);
        }
    }
    if let Some(Value::Object(series)) = out.get_mut("series") {
        // core's deprecated series.state has no events.k8s.io counterpart.
        series.remove("state");
    }
    let source = |key: &str| {
        out.get("deprecatedSource")
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Value::from)
    };
    let fallbacks = [
        ("reportingController", source("component")),
        ("reportingInstance", source("host")),
    ];
    for (field, value) in fallbacks {
        let unset = out
            .get(field)
            .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        if let (true, Some(value)) = (unset, value) {
            out.insert(field.into(), value);
        }
    }
    Value::Object(out)
}

/// An events.k8s.io/v1 Event as core/v1. Fields neither form knows are dropped; a value that
/// is no object comes back as it is.
pub fn events_v1_to_core(event: Value) -> Value {
    let Value::Object(mut from) = event else {
        return event;
    };
    let mut out = Map::new();
    out.insert("kind".into(), Value::from("Event"));
    out.insert("apiVersion".into(), Value::from("v1"));
    for field in SHARED {
        if let Some(v) = from.remove(*field) {
            out.insert((*field).into(), v);
        }
    }
    for (v1, core) in RENAMED {
        if let Some(v) = from.remove(*v1) {
            out.insert((*core).into(), v);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_events_v1() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "ns", "resourceVersion": "5"},
            "regarding": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "u"},
            "related": {"kind": "Node", "name": "n"},
            "note": "Started container",
            "reason": "Started", "type": "Normal", "action": "Start",
            "reportingController": "bosun.io/node", "reportingInstance": "node-1",
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:01:00.000000Z"},
            "deprecatedSource": {"component": "kubelet", "host": "node-1"},
            "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2026-01-01T00:01:00Z",
            "deprecatedCount": 3
        })
    }

    #[test]
    fn every_events_v1_field_has_its_core_counterpart() {
        let core = events_v1_to_core(full_events_v1());
        assert_eq!(
            core,
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "e", "namespace": "ns", "resourceVersion": "5"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "u"},
                "related": {"kind": "Node", "name": "n"},
                "message": "Started container",
                "reason": "Started", "type": "Normal", "action": "Start",
                "reportingComponent": "bosun.io/node", "reportingInstance": "node-1",
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "series": {"count": 3, "lastObservedTime": "2026-01-01T00:01:00.000000Z"},
                "source": {"component": "kubelet", "host": "node-1"},
                "firstTimestamp": "2026-01-01T00:00:00Z",
                "lastTimestamp": "2026-01-01T00:01:00Z",
                "count": 3
            })
        );
    }

    #[test]
    fn a_full_event_survives_the_round_trip_both_ways() {
        let v1 = full_events_v1();
        assert_eq!(core_to_events_v1(events_v1_to_core(v1.clone())), v1);
        let core = events_v1_to_core(v1);
        assert_eq!(events_v1_to_core(core_to_events_v1(core.clone())), core);
    }

    #[test]
    fn an_old_style_core_event_reports_its_source() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "m", "count": 1,
            "source": {"component": "kubelet", "host": "node-1"},
            "series": {"count": 2, "lastObservedTime": "t", "state": "Ongoing"}});
        let v1 = core_to_events_v1(core);
        assert_eq!(v1["reportingController"], "kubelet");
        assert_eq!(v1["reportingInstance"], "node-1");
        assert_eq!(v1["deprecatedSource"]["component"], "kubelet");
        assert_eq!(v1["note"], "m");
        assert_eq!(v1["deprecatedCount"], 1);
        assert_eq!(v1["series"], json!({"count": 2, "lastObservedTime": "t"}));
        // Set reporting fields win over the source.
        let set =
            core_to_events_v1(json!({"reportingComponent": "c", "source": {"component": "s"}}));
        assert_eq!(set["reportingController"], "c");
    }

    #[test]
    fn unknown_fields_are_dropped_and_non_objects_pass_through() {
        let core = events_v1_to_core(json!({"note": "n", "message": "stray", "bogus": 1}));
        assert_eq!(
            core,
            json!({"apiVersion": "v1", "kind": "Event", "message": "n"})
        );
        assert_eq!(core_to_events_v1(json!([1])), json!([1]));
        assert_eq!(events_v1_to_core(json!("x")), json!("x"));
    }
}
