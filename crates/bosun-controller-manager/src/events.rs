//! Events as client-go's `EventCorrelator` records them: similar Events about one object are
//! aggregated and counted instead of each written anew, and an object that keeps producing
//! Events is rate-limited. A ReplicaSet scaled to 10,000 pods writes a few dozen Events, not
//! 10,000 (one per pod created would double the writes of a scale-up).
//!
//! The correlator is a pure state machine: an Event and the time in, the write to make out
//! ([`EventWrite`]) or nothing.
//!
//! - **Aggregation** (client-go's `EventAggregator`): Events about the same object with the
//!   same type and reason but different messages are similar; from the 10th distinct message
//!   within 10 minutes on, they become one Event whose message starts with
//!   `(combined from similar events): `.
//! - **Deduplication** (`eventLogger`): an Event identical to one already written (or the
//!   aggregated Event) updates that Event's `count`, `lastTimestamp` and `message`.
//! - **Spam filter** (`EventSourceObjectSpamFilter`): per object, a token bucket of 25 that
//!   refills one token every 5 minutes; writes beyond it are dropped.

use bosun_controllers::action::EventType;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// Distinct messages of similar Events before they are aggregated (client-go's
/// `defaultAggregateMaxEvents`).
pub const AGGREGATE_MAX_EVENTS: usize = 10;
/// How long similar Events are remembered for aggregation (`defaultAggregateIntervalInSeconds`).
pub const AGGREGATE_INTERVAL: SignedDuration = SignedDuration::from_secs(600);
/// Writes per object at once (`defaultSpamBurst`).
pub const SPAM_BURST: f64 = 25.0;
/// One more write per object every this long (`defaultSpamQPS` = 1/300).
pub const SPAM_REFILL: SignedDuration = SignedDuration::from_secs(300);
/// Entries each cache keeps at most (client-go's LRU caches hold 4096).
pub const MAX_ENTRIES: usize = 4096;
/// The prefix of an aggregated Event's message.
pub const COMBINED: &str = "(combined from similar events): ";

/// One Event a controller asked for.
#[derive(Debug, Clone, Copy)]
pub struct EventIn<'a> {
    pub involved: &'a ObjectReference,
    pub event_type: EventType,
    pub reason: &'a str,
    pub message: &'a str,
    /// The reporting component (`source.component`).
    pub component: &'a str,
}

/// The write that records an Event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventWrite {
    pub namespace: String,
    pub name: String,
    /// The whole Event: POSTed when `patch` is false, or when the Event to patch is gone.
    pub body: Value,
    /// An Event of this name was written before: PATCH its count, lastTimestamp and message.
    pub patch: bool,
}

impl EventWrite {
    /// The merge patch that updates an already written Event to this one.
    pub fn patch_body(&self) -> Value {
        json!({
            "count": self.body["count"],
            "lastTimestamp": self.body["lastTimestamp"],
            "message": self.body["message"],
        })
    }
}

#[derive(Debug)]
struct Aggregate {
    messages: HashSet<String>,
    last: Timestamp,
}

#[derive(Debug)]
struct Observed {
    name: String,
    count: i64,
    first: Timestamp,
    last: Timestamp,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Timestamp,
}

/// client-go's `EventCorrelator`; see the module doc.
#[derive(Debug, Default)]
pub struct EventCorrelator {
    aggregates: HashMap<String, Aggregate>,
    observed: HashMap<String, Observed>,
    spam: HashMap<String, Bucket>,
    /// The last nanosecond timestamp used in a name: names are `<object>.<hex nanos>`, as
    /// client-go's, made strictly increasing so two Events never share one.
    last_nanos: i128,
}

fn object_key(e: &EventIn<'_>) -> String {
    let r = e.involved;
    let f = |s: &Option<String>| s.clone().unwrap_or_default();
    [
        e.component.to_string(),
        f(&r.kind),
        f(&r.namespace),
        f(&r.name),
        f(&r.uid),
        f(&r.api_version),
    ]
    .join("\u{0}")
}

/// Drop the entries not touched for longest when a cache is over its size.
fn bound<V>(map: &mut HashMap<String, V>, last: impl Fn(&V) -> Timestamp) {
    if map.len() <= MAX_ENTRIES {
        return;
    }
    let mut by_age: Vec<(Timestamp, String)> =
        map.iter().map(|(k, v)| (last(v), k.clone())).collect();
    by_age.sort_unstable();
    for (_, k) in by_age.into_iter().take(map.len() - MAX_ENTRIES * 3 / 4) {
        map.remove(&k);
    }
}

impl EventCorrelator {
    /// Decide the write for one Event at `now`, or None when the spam filter drops it.
    pub fn correlate(&mut self, e: &EventIn<'_>, now: Timestamp) -> Option<EventWrite> {
        let object = object_key(e);
        let similar = format!("{object}\u{0}{}\u{0}{}", e.event_type.as_str(), e.reason);

        // Aggregate: the 10th distinct message of similar Events and those after it become
        // the combined Event.
        let aggregate = self.aggregates.entry(similar.clone()).or_insert(Aggregate {
            messages: HashSet::new(),
            last: now,
        });
        if now.duration_since(aggregate.last) > AGGREGATE_INTERVAL {
            aggregate.messages.clear();
        }
        aggregate.last = now;
        aggregate.messages.insert(e.message.to_string());
        let (key, message) = if aggregate.messages.len() < AGGREGATE_MAX_EVENTS {
            (
                format!("{similar}\u{0}{}", e.message),
                e.message.to_string(),
            )
        } else {
            // Keep the set at its size, as client-go's PopAny.
            if let Some(any) = aggregate.messages.iter().next().cloned() {
                aggregate.messages.remove(&any);
            }
            (similar, format!("{COMBINED}{}", e.message))
        };

        // Deduplicate: an Event written before is counted up (its write may have been dropped:
        // then the PATCH finds nothing and the executor creates it).
        let (name, count, first, patch) = match self.observed.get(&key) {
            Some(o) => (o.name.clone(), o.count + 1, o.first, true),
            None => (self.new_name(e.involved, now), 1, now, false),
        };
        self.observed.insert(
            key,
            Observed {
                name: name.clone(),
                count,
                first,
                last: now,
            },
        );
        // Spam filter: the write (new or update) costs a token of the object's bucket; a dropped
        // write still counted above, as client-go's.
        let bucket = self.spam.entry(object).or_insert(Bucket {
            tokens: SPAM_BURST,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() / SPAM_REFILL.as_secs_f64();
        bucket.tokens = (bucket.tokens + refill.max(0.0)).min(SPAM_BURST);
        bucket.at = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }

        bound(&mut self.aggregates, |a| a.last);
        bound(&mut self.observed, |o| o.last);
        bound(&mut self.spam, |b| b.at);
        if !allowed {
            return None;
        }

        let namespace = e
            .involved
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let body = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": e.involved,
            "type": e.event_type.as_str(),
            "reason": e.reason,
            "message": message,
            "count": count,
            "firstTimestamp": Time(first),
            "lastTimestamp": Time(now),
            "source": {"component": e.component},
            "reportingComponent": e.component,
        });
        Some(EventWrite {
            namespace,
            name,
            body,
            patch,
        })
    }

    fn new_name(&mut self, involved: &ObjectReference, now: Timestamp) -> String {
        let nanos = now.as_nanosecond().max(self.last_nanos + 1);
        self.last_nanos = nanos;
        format!("{}.{nanos:x}", involved.name.as_deref().unwrap_or("object"))
    }
}

/// Fold the writes of one batch so each Event is written once: the last write of a name wins,
/// and it is a create if any write of that name in the batch was (the Event does not exist
/// yet). Writes sent concurrently could otherwise patch an Event before its create.
pub fn fold(writes: Vec<EventWrite>) -> Vec<EventWrite> {
    let mut out: Vec<EventWrite> = Vec::with_capacity(writes.len());
    let mut at: HashMap<String, usize> = HashMap::new();
    for w in writes {
        let k = format!("{}/{}", w.namespace, w.name);
        match at.get(&k) {
            Some(&i) => {
                let create = !out[i].patch;
                out[i] = EventWrite {
                    patch: w.patch && !create,
                    ..w
                };
            }
            None => {
                at.insert(k, out.len());
                out.push(w);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs() -> ObjectReference {
        ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("ReplicaSet".into()),
            name: Some("web-1".into()),
            namespace: Some("default".into()),
            uid: Some("u1".into()),
            ..ObjectReference::default()
        }
    }

    fn created<'a>(r: &'a ObjectReference, message: &'a str) -> EventIn<'a> {
        EventIn {
            involved: r,
            event_type: EventType::Normal,
            reason: "SuccessfulCreate",
            message,
            component: "replicaset-controller",
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    #[test]
    fn a_scale_up_of_many_pods_writes_a_bounded_number_of_events() {
        let mut c = EventCorrelator::default();
        let r = rs();
        let writes: Vec<EventWrite> = (0..10_000)
            .filter_map(|i| c.correlate(&created(&r, &format!("Created pod: web-1-{i}")), at(0)))
            .collect();
        assert_eq!(writes.len(), 25, "the spam filter's burst");
        // Nine Events of their own, then the combined one, created and counted up.
        assert!(writes[..9].iter().all(|w| !w.patch));
        assert_eq!(writes[0].body["message"], "Created pod: web-1-0");
        assert!(!writes[9].patch);
        assert_eq!(
            writes[9].body["message"],
            format!("{COMBINED}Created pod: web-1-9")
        );
        assert!(
            writes[10..]
                .iter()
                .all(|w| w.patch && w.name == writes[9].name)
        );
        assert_eq!(writes[24].body["count"], 16);
        assert_eq!(
            writes[24].body["firstTimestamp"],
            writes[9].body["firstTimestamp"]
        );
        // Names are unique, and the API server's name rules hold (`<object>.<hex>`).
        let names: HashSet<&str> = writes[..10].iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names.len(), 10);
        assert!(writes[0].name.starts_with("web-1."), "{}", writes[0].name);
    }

    #[test]
    fn the_spam_filter_refills_one_write_every_five_minutes() {
        let mut c = EventCorrelator::default();
        let r = rs();
        for i in 0..30 {
            c.correlate(&created(&r, &format!("m{i}")), at(0));
        }
        assert!(c.correlate(&created(&r, "late"), at(10)).is_none());
        let w = c
            .correlate(&created(&r, "later"), at(301))
            .expect("a token came back");
        assert!(w.patch, "still the combined Event");
        assert_eq!(
            w.body["count"], 23,
            "every occurrence counted, written or not"
        );
        assert!(c.correlate(&created(&r, "again"), at(302)).is_none());
    }

    #[test]
    fn the_same_event_again_counts_up_the_first() {
        let mut c = EventCorrelator::default();
        let r = rs();
        let first = c
            .correlate(&created(&r, "Scaled up"), at(0))
            .expect("written");
        let second = c
            .correlate(&created(&r, "Scaled up"), at(5))
            .expect("written");
        assert!(!first.patch && second.patch);
        assert_eq!(first.name, second.name);
        assert_eq!(second.body["count"], 2);
        assert_eq!(
            second.patch_body(),
            json!({"count": 2, "lastTimestamp": second.body["lastTimestamp"], "message": "Scaled up"})
        );
    }

    #[test]
    fn events_about_different_objects_or_reasons_are_apart() {
        let mut c = EventCorrelator::default();
        let a = rs();
        let b = ObjectReference {
            name: Some("web-2".into()),
            uid: Some("u2".into()),
            ..rs()
        };
        for i in 0..25 {
            assert!(c.correlate(&created(&a, &format!("m{i}")), at(0)).is_some());
        }
        assert!(c.correlate(&created(&a, "m25"), at(0)).is_none());
        let other = c
            .correlate(&created(&b, "m0"), at(0))
            .expect("another object");
        assert!(!other.patch && other.name.starts_with("web-2."));
        // Similar Events are forgotten after 10 minutes: messages stand alone again.
        let late = c
            .correlate(&created(&a, "fresh"), at(601 + 300 * 25))
            .expect("refilled");
        assert_eq!(late.body["message"], "fresh");
    }

    #[test]
    fn a_batch_writes_each_event_once_and_creates_before_it_patches() {
        let mut c = EventCorrelator::default();
        let r = rs();
        let writes: Vec<EventWrite> = (0..20)
            .filter_map(|i| c.correlate(&created(&r, &format!("m{i}")), at(0)))
            .collect();
        let folded = fold(writes);
        assert_eq!(folded.len(), 10, "nine alone, one combined");
        let combined = &folded[9];
        assert!(!combined.patch, "created in this batch: a create");
        assert_eq!(combined.body["count"], 11);
        let more = fold(vec![
            c.correlate(&created(&r, "m20"), at(1)).expect("written"),
        ]);
        assert!(more[0].patch);
    }

    #[test]
    fn the_caches_stay_bounded() {
        let mut c = EventCorrelator::default();
        for i in 0..(MAX_ENTRIES * 2) {
            let r = ObjectReference {
                name: Some(format!("p{i}")),
                uid: Some(format!("u{i}")),
                ..rs()
            };
            c.correlate(&created(&r, "Evicted"), at(0));
        }
        assert!(c.observed.len() <= MAX_ENTRIES);
        assert!(c.spam.len() <= MAX_ENTRIES);
        assert!(c.aggregates.len() <= MAX_ENTRIES);
    }
}
