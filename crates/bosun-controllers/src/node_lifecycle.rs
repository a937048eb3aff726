//! Node lifecycle: a node whose Lease is not renewed within the grace period becomes
//! Ready=Unknown and gets the unreachable taints; a node reporting NotReady gets the not-ready
//! taints; pods that do not tolerate a NoExecute taint are evicted (at once, or after their
//! tolerationSeconds); the taints go when the node is Ready again.

use crate::action::{Action, EventType, Reconcile, Target};
use crate::node::Node;
use crate::pod::Pod;
use crate::pod_state::object_reference;
use k8s_openapi::api::core::v1::{Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::time::Duration;

pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";

/// Timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTimings {
    /// A Lease older than this makes the node unreachable (Kubernetes: 40 s).
    pub grace: Duration,
    /// tolerationSeconds for pods with no toleration of their own for the not-ready and
    /// unreachable taints, as the DefaultTolerationSeconds admission gives them (300 s).
    pub default_toleration: Duration,
}

fn dur(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::ZERO)
}

fn ready_status(node: &Node) -> Option<String> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

fn tolerates(t: &Toleration, key: &str) -> bool {
    let effect_ok = t
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == "NoExecute");
    let key_ok = match t.operator.as_deref() {
        Some("Exists") => t.key.as_deref().is_none_or(|k| k.is_empty() || k == key),
        _ => t.key.as_deref() == Some(key),
    };
    effect_ok && key_ok
}

/// When a pod on a node tainted `key` (NoExecute, added at `added`) must go: `None` never.
pub fn eviction_time(
    pod: &Pod,
    key: &str,
    added: Timestamp,
    timings: &NodeTimings,
) -> Option<Timestamp> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, key)).collect();
    if matching.is_empty() {
        // The admission default: tolerate for default_toleration.
        return Some(added + dur(timings.default_toleration));
    }
    // The longest toleration wins; one without seconds tolerates forever.
    if matching.iter().any(|t| t.toleration_seconds.is_none()) {
        return None;
    }
    let secs = matching
        .iter()
        .filter_map(|t| t.toleration_seconds)
        .max()
        .unwrap_or(0)
        .max(0);
    Some(added + SignedDuration::from_secs(secs))
}

/// Decide for one node given its Lease's renew time, the pods bound to it and now.
pub fn reconcile(
    node: &Node,
    renewed: Option<Timestamp>,
    pods: &[&Pod],
    now: Timestamp,
    timings: &NodeTimings,
) -> Reconcile {
    let mut out = Reconcile::default();
    let Some(name) = node.metadata.name.as_deref() else {
        return out;
    };
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let last = renewed.or(created).unwrap_or(now);
    let expires = last + dur(timings.grace);
    let lost = expires <= now;
    let ready = ready_status(node);
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();

    if lost && ready.as_deref() != Some("Unknown") {
        let updated: Vec<_> = conditions
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                c
            })
            .collect();
        out.actions.push(Action::PatchStatus {
            target: Target::NODES,
            namespace: None,
            name: name.into(),
            status: json!({"conditions": updated}),
        });
        out.actions.push(Action::Event {
            involved: object_reference("v1", "Node", &node.metadata),
            event_type: EventType::Normal,
            reason: "NodeNotReady".into(),
            message: format!("Node {name} status is now: NodeNotReady"),
        });
    } else if !lost {
        out.requeue_at_most(
            Duration::try_from(expires.duration_since(now)).unwrap_or(Duration::ZERO)
                + Duration::from_millis(200),
        );
    }
    let effective = if lost {
        Some("Unknown")
    } else {
        ready.as_deref()
    };
    let wanted_key = match effective {
        Some("True") => None,
        Some("Unknown") => Some(UNREACHABLE),
        _ => Some(NOT_READY),
    };
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let ours = |t: &Taint| t.key == UNREACHABLE || t.key == NOT_READY;
    let current: Vec<&Taint> = taints.iter().filter(|t| ours(t)).collect();
    let mut desired: Vec<Taint> = taints.iter().filter(|t| !ours(t)).cloned().collect();
    if let Some(key) = wanted_key {
        for effect in ["NoSchedule", "NoExecute"] {
            let kept = current
                .iter()
                .find(|t| t.key == key && t.effect == effect)
                .map(|t| (*t).clone());
            desired.push(kept.unwrap_or(Taint {
                key: key.into(),
                effect: effect.into(),
                time_added: (effect == "NoExecute").then_some(Time(now)),
                value: None,
            }));
        }
    }
    if desired != taints {
        out.actions.push(Action::MergePatch {
            target: Target::NODES,
            namespace: None,
            name: name.into(),
            patch: json!({"spec": {"taints": desired}}),
        });
    }
    // Evictions under the NoExecute taint, timed from when it was added.
    if let Some(key) = wanted_key {
        let added = desired
            .iter()
            .find(|t| t.key == key && t.effect == "NoExecute")
            .and_then(|t| t.time_added.as_ref())
            .map_or(now, |t| t.0);
        for pod in pods {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let Some(at) = eviction_time(pod, key, added, timings) else {
                continue;
            };
            if at <= now {
                out.actions.push(Action::Delete {
                    target: Target::PODS,
                    namespace: pod.metadata.namespace.clone(),
                    name: pod.metadata.name.clone().unwrap_or_default(),
                    uid: pod.metadata.uid.clone(),
                    propagation: None,
                });
                out.actions.push(Action::Event {
                    involved: object_reference("v1", "Pod", &pod.metadata),
                    event_type: EventType::Normal,
                    reason: "TaintManagerEviction".into(),
                    message: format!(
                        "Marking for deletion Pod {}/{}",
                        pod.metadata.namespace.as_deref().unwrap_or(""),
                        pod.metadata.name.as_deref().unwrap_or("")
                    ),
                });
            } else {
                out.requeue_at_most(
                    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
                        + Duration::from_millis(200),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("time")
    }

    const TIMINGS: NodeTimings = NodeTimings {
        grace: Duration::from_secs(40),
        default_toleration: Duration::from_secs(300),
    };

    fn node(ready: &str, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "creationTimestamp": t(0).to_string()},
            "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready}, {"type": "MemoryPressure", "status": "False"}]}
        }))
        .expect("node")
    }

    fn pod(name: &str, tolerations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": name},
            "spec": {"nodeName": "n1", "tolerations": tolerations, "containers": []}
        }))
        .expect("pod")
    }

    fn deletes(r: &Reconcile) -> Vec<String> {
        r.actions
            .iter()
            .filter_map(|a| match a {
                Action::Delete { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_fresh_lease_keeps_the_node_and_says_when_to_look_again() {
        let r = reconcile(
            &node("True", json!([])),
            Some(t(100)),
            &[],
            t(110),
            &TIMINGS,
        );
        assert!(r.actions.is_empty());
        assert_eq!(
            r.requeue_after,
            Some(Duration::from_secs(30) + Duration::from_millis(200))
        );
    }

    #[test]
    fn a_stale_lease_makes_the_node_unknown_and_tainted() {
        let r = reconcile(
            &node("True", json!([])),
            Some(t(100)),
            &[],
            t(141),
            &TIMINGS,
        );
        let status = r
            .actions
            .iter()
            .find_map(|a| match a {
                Action::PatchStatus { status, .. } => Some(status.clone()),
                _ => None,
            })
            .expect("status");
        assert!(
            status["conditions"]
                .as_array()
                .expect("c")
                .iter()
                .all(|c| c["status"] == "Unknown" && c["reason"] == "NodeStatusUnknown")
        );
        let taints = r
            .actions
            .iter()
            .find_map(|a| match a {
                Action::MergePatch { patch, .. } => Some(patch["spec"]["taints"].clone()),
                _ => None,
            })
            .expect("taints");
        assert_eq!(taints.as_array().map(Vec::len), Some(2));
        assert!(
            taints
                .as_array()
                .expect("t")
                .iter()
                .all(|t| t["key"] == UNREACHABLE)
        );
    }

    #[test]
    fn pods_are_evicted_by_their_tolerations() {
        let tainted = node(
            "Unknown",
            json!([{"key": UNREACHABLE, "effect": "NoSchedule"}, {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": t(100).to_string()}]),
        );
        let default = pod("default", json!([]));
        let short = pod(
            "short",
            json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]),
        );
        let forever = pod("forever", json!([{"operator": "Exists"}]));
        let pods = [&default, &short, &forever];
        assert!(deletes(&reconcile(&tainted, Some(t(0)), &pods, t(105), &TIMINGS)).is_empty());
        assert_eq!(
            deletes(&reconcile(&tainted, Some(t(0)), &pods, t(110), &TIMINGS)),
            vec!["short"]
        );
        assert_eq!(
            deletes(&reconcile(&tainted, Some(t(0)), &pods, t(400), &TIMINGS)),
            vec!["default", "short"]
        );
        let r = reconcile(&tainted, Some(t(0)), &pods, t(105), &TIMINGS);
        assert_eq!(
            r.requeue_after,
            Some(Duration::from_secs(5) + Duration::from_millis(200))
        );
    }

    #[test]
    fn taints_are_lifted_when_the_node_is_ready_again() {
        let recovered = node(
            "True",
            json!([{"key": UNREACHABLE, "effect": "NoExecute"}, {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        );
        let r = reconcile(&recovered, Some(t(100)), &[], t(101), &TIMINGS);
        let taints = r
            .actions
            .iter()
            .find_map(|a| match a {
                Action::MergePatch { patch, .. } => Some(patch["spec"]["taints"].clone()),
                _ => None,
            })
            .expect("taints");
        assert_eq!(
            taints,
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
        );
    }

    #[test]
    fn a_node_reporting_not_ready_gets_the_not_ready_taints() {
        let r = reconcile(
            &node("False", json!([])),
            Some(t(100)),
            &[],
            t(101),
            &TIMINGS,
        );
        let taints = r
            .actions
            .iter()
            .find_map(|a| match a {
                Action::MergePatch { patch, .. } => Some(patch["spec"]["taints"].clone()),
                _ => None,
            })
            .expect("taints");
        assert!(
            taints
                .as_array()
                .expect("t")
                .iter()
                .all(|t| t["key"] == NOT_READY)
        );
    }
}
