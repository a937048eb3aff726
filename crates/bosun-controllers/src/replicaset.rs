//! The ReplicaSet controller: keep `spec.replicas` matching pods, adopting orphans and
//! releasing pods that stop matching, deleting the least valuable pods first, and reporting
//! status.

use crate::action::{Action, EventType, Reconcile, Target};
use crate::pod::Pod;
use crate::pod_state::{
    controller_owner_reference, controller_ref, is_active, is_pod_available, is_pod_ready,
    object_reference, ready_since,
};
use crate::pod_template::{name_suffix, pod_from_template};
use crate::selector;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::time::Duration;

/// Pods created (or deleted) by one reconcile at most, as upstream's burst.
pub const BURST: usize = 500;

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        _ => 2,
    }
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| {
            cs.iter().map(|c| c.restart_count).max().unwrap_or(0)
        })
}

/// Upstream's order of pods to delete first: unscheduled before scheduled, pending before
/// unknown before running, not ready before ready, ready for less time first, more restarts
/// first, newer first.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let scheduled = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    scheduled(a)
        .cmp(&scheduled(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(is_pod_ready(a).cmp(&is_pod_ready(b)))
        .then_with(|| match (ready_since(a), ready_since(b)) {
            (Some(x), Some(y)) => y.cmp(&x),
            _ => Ordering::Equal,
        })
        .then(restarts(b).cmp(&restarts(a)))
        .then_with(|| {
            let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            created(b).cmp(&created(a))
        })
}

/// Decide for one ReplicaSet given every pod of its namespace.
pub fn reconcile(rs: &ReplicaSet, pods: &[&Pod], now: Timestamp) -> Reconcile {
    let mut out = Reconcile::default();
    let (Some(name), Some(uid), Some(ns)) = (
        rs.metadata.name.as_deref(),
        rs.metadata.uid.as_deref(),
        rs.metadata.namespace.as_deref(),
    ) else {
        return out;
    };
    let Some(spec) = rs.spec.as_ref() else {
        return out;
    };
    let deleting = rs.metadata.deletion_timestamp.is_some();
    let sel = Some(&spec.selector);
    let reference = object_reference("apps/v1", "ReplicaSet", &rs.metadata);
    let Some(owner) = controller_owner_reference("apps/v1", "ReplicaSet", &rs.metadata) else {
        return out;
    };

    // Claim: owned pods that match, adopt matching orphans, release owned pods that don't.
    let mut mine: Vec<&Pod> = Vec::new();
    for pod in pods {
        let labels = pod.metadata.labels.as_ref();
        let matching = selector::matches(sel, labels);
        match controller_ref(&pod.metadata) {
            Some(r) if r.uid == uid => {
                if matching {
                    mine.push(pod);
                } else if !deleting {
                    let others: Vec<_> = pod
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .filter(|o| o.uid != uid)
                        .cloned()
                        .collect();
                    out.actions.push(Action::MergePatch {
                        target: Target::PODS,
                        namespace: Some(ns.into()),
                        name: pod.metadata.name.clone().unwrap_or_default(),
                        patch: json!({"metadata": {"ownerReferences": others, "uid": pod.metadata.uid}}),
                    });
                }
            }
            Some(_) => {}
            None if matching && !deleting && pod.metadata.deletion_timestamp.is_none() => {
                let mut refs = pod.metadata.owner_references.clone().unwrap_or_default();
                refs.push(owner.clone());
                out.actions.push(Action::MergePatch {
                    target: Target::PODS,
                    namespace: Some(ns.into()),
                    name: pod.metadata.name.clone().unwrap_or_default(),
                    patch: json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}}),
                });
                mine.push(pod);
            }
            None => {}
        }
    }
    let active: Vec<&Pod> = mine.iter().copied().filter(|p| is_active(p)).collect();
    let want = usize::try_from(spec.replicas.unwrap_or(1).max(0)).unwrap_or(0);

    if !deleting && active.len() < want {
        let template = spec.template.clone().unwrap_or_default();
        // The creates first, then their Events: the manager sends a run of pod creates
        // concurrently, and an Event between two creates would cut the run into creates sent
        // one at a time.
        let mut events = Vec::new();
        for i in 0..(want - active.len()).min(BURST) {
            let pod_name = format!("{name}-{}", name_suffix(uid, now, i));
            out.actions.push(Action::Create {
                target: Target::PODS,
                namespace: Some(ns.into()),
                object: pod_from_template(&template, &pod_name, ns, &owner),
            });
            events.push(Action::Event {
                involved: reference.clone(),
                event_type: EventType::Normal,
                reason: "SuccessfulCreate".into(),
                message: format!("Created pod: {pod_name}"),
            });
        }
        out.actions.extend(events);
    } else if !deleting && active.len() > want {
        let mut victims = active.clone();
        victims.sort_by(|a, b| deletion_order(a, b));
        let mut events = Vec::new();
        for pod in victims.into_iter().take((active.len() - want).min(BURST)) {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            out.actions.push(Action::Delete {
                target: Target::PODS,
                namespace: Some(ns.into()),
                name: pod_name.clone(),
                uid: pod.metadata.uid.clone(),
                propagation: None,
            });
            events.push(Action::Event {
                involved: reference.clone(),
                event_type: EventType::Normal,
                reason: "SuccessfulDelete".into(),
                message: format!("Deleted pod: {pod_name}"),
            });
        }
        out.actions.extend(events);
    }

    // Status from what is observed now.
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.as_ref();
            template_labels
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .count();
    let ready = active.iter().filter(|p| is_pod_ready(p)).count();
    let available = active
        .iter()
        .filter(|p| is_pod_available(p, min_ready, now))
        .count();
    // A ready pod that will become available later: look again then.
    for p in &active {
        if let Some(since) = ready_since(p)
            && !is_pod_available(p, min_ready, now)
        {
            let at = since + SignedDuration::from_secs(i64::from(min_ready));
            let wait = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO);
            out.requeue_at_most(wait + Duration::from_millis(100));
        }
    }
    let status = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": rs.metadata.generation,
    });
    let current = rs.status.as_ref().map(|s| {
        json!({
            "replicas": s.replicas,
            "fullyLabeledReplicas": s.fully_labeled_replicas.unwrap_or(0),
            "readyReplicas": s.ready_replicas.unwrap_or(0),
            "availableReplicas": s.available_replicas.unwrap_or(0),
            "observedGeneration": s.observed_generation,
        })
    });
    if current.as_ref() != Some(&status) {
        out.actions.push(Action::PatchStatus {
            target: Target::REPLICASETS,
            namespace: Some(ns.into()),
            name: name.into(),
            status,
        });
    }
    out
}

/// The JSON of a ReplicaSet's desired `spec.replicas` (for scale patches).
pub fn scale_patch(replicas: i32) -> Value {
    json!({"spec": {"replicas": replicas}})
}

#[cfg(test)]
mod tests;
