//! The pod garbage collector, as kube-controller-manager's podgc: pods no kubelet will ever
//! finish are deleted at once (grace period 0) — finished pods (Succeeded/Failed) beyond the
//! threshold, oldest first; pods bound to a Node that does not exist (confirmed by a live read
//! when deleting, since the cache may lag a new Node); and pods being deleted that were never
//! scheduled.

use crate::action::{Action, EventType, Reconcile};
use crate::pod::Pod;
use crate::pod_state::{is_terminating, object_reference, phase};
use std::collections::BTreeSet;
use std::time::Duration;

/// Upstream's `--terminated-pod-gc-threshold` default.
pub const DEFAULT_THRESHOLD: usize = 12_500;
/// How often the collector looks (upstream's gcCheckPeriod).
pub const PERIOD: Duration = Duration::from_secs(20);

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

fn force_delete(pod: &Pod, unless_node: Option<String>) -> Action {
    Action::ForceDeletePod {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone(),
        unless_node,
    }
}

/// Decide over every pod given the names of the Nodes that exist.
pub fn reconcile(pods: &[&Pod], nodes: &BTreeSet<String>, threshold: usize) -> Reconcile {
    let mut out = Reconcile {
        actions: Vec::new(),
        requeue_after: Some(PERIOD),
    };
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    // Finished pods beyond the threshold, oldest first.
    let mut finished: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| matches!(phase(p), "Succeeded" | "Failed") && !is_terminating(p))
        .collect();
    if finished.len() > threshold {
        finished.sort_by(|a, b| {
            let at = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            at(a)
                .cmp(&at(b))
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        });
        let excess = finished.len() - threshold;
        for p in finished.into_iter().take(excess) {
            deleted.insert(p.metadata.uid.as_deref().unwrap_or_default());
            out.actions.push(force_delete(p, None));
        }
    }
    for p in pods {
        if deleted.contains(p.metadata.uid.as_deref().unwrap_or_default()) {
            continue;
        }
        match node_of(p) {
            // Bound to a Node that is gone.
            Some(node) if !nodes.contains(node) => {
                out.actions.push(force_delete(p, Some(node.to_string())));
                out.actions.push(Action::Event {
                    involved: object_reference("v1", "Pod", &p.metadata),
                    event_type: EventType::Normal,
                    reason: "PodGCOrphaned".into(),
                    message: format!("Deleting pod bound to node {node} that no longer exists"),
                });
            }
            Some(_) => {}
            // Being deleted and never scheduled: no kubelet will confirm it.
            None if is_terminating(p) => out.actions.push(force_delete(p, None)),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, phase: &str, created: i64, deleting: bool) -> Pod {
        let mut p = json!({
            "metadata": {"name": name, "namespace": "default", "uid": name,
                         "creationTimestamp": format!("2026-01-01T00:00:{created:02}Z")},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": phase}
        });
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:01:00Z");
        }
        serde_json::from_value(p).expect("pod")
    }

    fn names(r: &Reconcile) -> Vec<(String, Option<String>)> {
        r.actions
            .iter()
            .filter_map(|a| match a {
                Action::ForceDeletePod {
                    name, unless_node, ..
                } => Some((name.clone(), unless_node.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn finished_pods_beyond_the_threshold_go_oldest_first() {
        let nodes = BTreeSet::from(["n1".to_string()]);
        let pods = [
            pod("new", "n1", "Succeeded", 30, false),
            pod("old", "n1", "Failed", 10, false),
            pod("mid", "n1", "Succeeded", 20, false),
            pod("running", "n1", "Running", 0, false),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        assert_eq!(
            names(&reconcile(&refs, &nodes, 1)),
            vec![("old".into(), None), ("mid".into(), None)]
        );
        assert!(names(&reconcile(&refs, &nodes, 3)).is_empty());
        assert_eq!(reconcile(&refs, &nodes, 3).requeue_after, Some(PERIOD));
    }

    #[test]
    fn pods_of_vanished_nodes_and_unscheduled_terminating_pods_go() {
        let nodes = BTreeSet::from(["n1".to_string()]);
        let pods = [
            pod("here", "n1", "Running", 0, false),
            pod("orphan", "gone", "Running", 0, false),
            pod("pending-deleted", "", "Pending", 0, true),
            pod("pending", "", "Pending", 0, false),
            pod("terminating-here", "n1", "Running", 0, true),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        assert_eq!(
            names(&reconcile(&refs, &nodes, DEFAULT_THRESHOLD)),
            vec![
                ("orphan".into(), Some("gone".into())),
                ("pending-deleted".into(), None)
            ]
        );
    }
}
