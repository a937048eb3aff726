//! The StatefulSet controller, as kube-controller-manager's: pods with stable ordinal names
//! (`<set>-<i>`) and identities (hostname, subdomain from `serviceName`, the pod-name and
//! pod-index labels); `OrderedReady` creates them one at a time in order, each waiting for its
//! predecessors to be Running and Ready, and removes them from the highest ordinal down, one
//! at a time; `Parallel` does both at once. Templates are kept as ControllerRevisions;
//! `RollingUpdate` replaces pods of an old revision from the highest ordinal down to the
//! partition (one at a time, or `maxUnavailable` at once), `OnDelete` only recreates deleted
//! pods. volumeClaimTemplates are not acted on: bosun has no PersistentVolumeClaims.

use crate::action::{Action, EventType, Reconcile, Target};
use crate::controller_revision::{self as history, HASH_LABEL, History};
use crate::invalid_spec;
use crate::pod::Pod;
use crate::pod_state::{
    controller_owner_reference, controller_ref, is_pod_available, is_pod_ready, is_terminating,
    object_reference, phase, ready_since,
};
use crate::pod_template::pod_from_template;
use crate::selector;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The ordinal of a pod of the set named `set`: `<set>-<i>`.
pub fn ordinal(set: &str, pod_name: &str) -> Option<i32> {
    let rest = pod_name.strip_prefix(set)?.strip_prefix('-')?;
    if rest.is_empty() || rest.starts_with('+') || (rest.len() > 1 && rest.starts_with('0')) {
        return None;
    }
    rest.parse().ok().filter(|n: &i32| *n >= 0)
}

fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(HASH_LABEL)
        .map(String::as_str)
}

fn is_running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_pod_ready(pod)
}

/// Running, available for minReadySeconds, not being deleted: a predecessor the next pod may
/// follow.
fn is_healthy(pod: &Pod, min_ready: i32, now: Timestamp) -> bool {
    phase(pod) == "Running" && is_pod_available(pod, min_ready, now) && !is_terminating(pod)
}

fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// A pod of the set at `ordinal` from `template`, labelled with revision `revision`.
fn new_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    ordinal: i32,
    revision: &str,
    owner: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> Value {
    let set_name = set.metadata.name.as_deref().unwrap_or_default();
    let ns = set.metadata.namespace.as_deref().unwrap_or_default();
    let pod_name = format!("{set_name}-{ordinal}");
    let mut pod = pod_from_template(template, &pod_name, ns, owner);
    let labels = &mut pod["metadata"]["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    labels[POD_NAME_LABEL] = json!(pod_name);
    labels[POD_INDEX_LABEL] = json!(ordinal.to_string());
    labels[HASH_LABEL] = json!(revision);
    if !pod["spec"].is_object() {
        pod["spec"] = json!({});
    }
    pod["spec"]["hostname"] = json!(pod_name);
    if let Some(service) = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.as_deref())
        .filter(|s| !s.is_empty())
    {
        pod["spec"]["subdomain"] = json!(service);
    }
    pod
}

/// The labels a pod of the set must carry for its identity, when some are missing or wrong.
fn identity_patch(pod: &Pod, ordinal: i32) -> Option<Value> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let index = ordinal.to_string();
    let mut missing = serde_json::Map::new();
    if labels.get(POD_NAME_LABEL) != Some(&name) {
        missing.insert(POD_NAME_LABEL.into(), json!(name));
    }
    if labels.get(POD_INDEX_LABEL) != Some(&index) {
        missing.insert(POD_INDEX_LABEL.into(), json!(index));
    }
    (!missing.is_empty()).then(|| json!({"metadata": {"labels": missing}}))
}

fn max_unavailable(v: &IntOrString, replicas: i32) -> i32 {
    let n = match v {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            i32::try_from((pct * i64::from(replicas) + 99) / 100).unwrap_or(1)
        }
    };
    n.max(1)
}

/// Decide for one StatefulSet given the pods and ControllerRevisions of its namespace.
pub fn reconcile(
    set: &StatefulSet,
    pods: &[&Pod],
    revisions: &[&ControllerRevision],
    now: Timestamp,
) -> Reconcile {
    let mut out = Reconcile::default();
    let (Some(name), Some(uid), Some(ns)) = (
        set.metadata.name.as_deref(),
        set.metadata.uid.as_deref(),
        set.metadata.namespace.as_deref(),
    ) else {
        return out;
    };
    let Some(spec) = set.spec.as_ref() else {
        return out;
    };
    if set.metadata.deletion_timestamp.is_some() {
        return out;
    }
    let old_status = set.status.clone().unwrap_or_default();
    let conditions = invalid_spec::conditions_json(old_status.conditions.as_ref());
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref());
    if let Some(problem) = invalid_spec::selector_problem(Some(&spec.selector), template_labels) {
        invalid_spec::report(
            &mut out,
            Target::STATEFULSETS,
            "apps/v1",
            "StatefulSet",
            &set.metadata,
            &conditions,
            &problem,
            now,
        );
        return out;
    }
    let Some(owner) = controller_owner_reference("apps/v1", "StatefulSet", &set.metadata) else {
        return out;
    };
    let reference = object_reference("apps/v1", "StatefulSet", &set.metadata);

    // History: the update revision (this template) and the current one (status).
    let collision = old_status.collision_count;
    let (update, revision_actions) = match history::sync(
        "apps/v1",
        "StatefulSet",
        &set.metadata,
        &spec.template,
        collision,
        revisions,
    ) {
        History::Synced { update, actions } => (update, actions),
        History::Collision { collision_count } => {
            out.actions.push(Action::PatchStatus {
                target: Target::STATEFULSETS,
                namespace: Some(ns.into()),
                name: name.into(),
                status: json!({"collisionCount": collision_count}),
            });
            return out;
        }
    };
    out.actions.extend(revision_actions);
    let current_revision: Option<&ControllerRevision> =
        old_status.current_revision.as_deref().and_then(|c| {
            revisions.iter().copied().find(|r| {
                r.metadata.name.as_deref() == Some(c)
                    && controller_ref(&r.metadata).is_some_and(|o| o.uid == uid)
            })
        });
    let (current_name, current_template) = match current_revision
        .and_then(|r| Some((r.metadata.name.clone()?, history::template_of(r)?)))
    {
        Some(found) => found,
        None => (update.name.clone(), spec.template.clone()),
    };

    // Claim pods: ours by name, and matching orphans (adopted).
    let mut mine: Vec<&Pod> = Vec::new();
    for pod in pods.iter().copied() {
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        if ordinal(name, pod_name).is_none() {
            continue;
        }
        match controller_ref(&pod.metadata) {
            Some(r) if r.uid == uid => mine.push(pod),
            None if selector::matches(Some(&spec.selector), pod.metadata.labels.as_ref())
                && !is_terminating(pod) =>
            {
                let mut refs = pod.metadata.owner_references.clone().unwrap_or_default();
                refs.push(owner.clone());
                out.actions.push(Action::MergePatch {
                    target: Target::PODS,
                    namespace: Some(ns.into()),
                    name: pod_name.into(),
                    patch: json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}}),
                });
                mine.push(pod);
            }
            _ => {}
        }
    }

    let replicas = spec.replicas.unwrap_or(1).max(0);
    let start = spec
        .ordinals
        .as_ref()
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0);
    let end = start.saturating_add(replicas);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");
    let strategy = spec.update_strategy.as_ref();
    let on_delete = strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete");
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    let partition = rolling.and_then(|r| r.partition).unwrap_or(0).max(0);

    let mut slots: BTreeMap<i32, &Pod> = BTreeMap::new();
    let mut condemned: Vec<(i32, &Pod)> = Vec::new();
    for pod in &mine {
        let Some(i) = ordinal(name, pod.metadata.name.as_deref().unwrap_or_default()) else {
            continue;
        };
        if (start..end).contains(&i) {
            slots.insert(i, pod);
        } else {
            condemned.push((i, pod));
        }
    }
    condemned.sort_by_key(|(i, _)| std::cmp::Reverse(*i));

    // Status from what is observed.
    let mut status_counts = (0, 0, 0, 0, 0); // replicas, ready, available, current, updated
    for pod in &mine {
        status_counts.0 += 1;
        if is_running_and_ready(pod) {
            status_counts.1 += 1;
            if is_pod_available(pod, min_ready, now) {
                status_counts.2 += 1;
            }
        }
        if !is_terminating(pod) {
            let rev = revision_of(pod);
            status_counts.3 += i32::from(rev == Some(current_name.as_str()));
            status_counts.4 += i32::from(rev == Some(update.name.as_str()));
        }
        if let Some(since) = ready_since(pod)
            && min_ready > 0
            && !is_pod_available(pod, min_ready, now)
        {
            let at = since + SignedDuration::from_secs(i64::from(min_ready));
            out.requeue_at_most(
                Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
                    + Duration::from_millis(100),
            );
        }
    }

    let created = |out: &mut Reconcile, ordinal: i32| {
        // Below the partition a new pod keeps the current revision (without rollingUpdate
        // settings: within the current replicas); under OnDelete it gets the update revision.
        let below = match (on_delete, rolling) {
            (true, _) => false,
            (false, None) => ordinal < start + old_status.current_replicas.unwrap_or(0),
            (false, Some(_)) => ordinal < start + partition,
        };
        let (template, revision) = if below {
            (&current_template, current_name.as_str())
        } else {
            (&spec.template, update.name.as_str())
        };
        let pod = new_pod(set, template, ordinal, revision, &owner);
        out.actions.push(Action::Create {
            target: Target::PODS,
            namespace: Some(ns.into()),
            object: pod,
        });
        out.actions.push(Action::Event {
            involved: reference.clone(),
            event_type: EventType::Normal,
            reason: "SuccessfulCreate".into(),
            message: format!("create Pod {name}-{ordinal} in StatefulSet {name} successful"),
        });
    };
    let deleted = |out: &mut Reconcile, pod: &Pod| {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        out.actions.push(Action::Delete {
            target: Target::PODS,
            namespace: Some(ns.into()),
            name: pod_name.clone(),
            uid: pod.metadata.uid.clone(),
            propagation: None,
        });
        out.actions.push(Action::Event {
            involved: reference.clone(),
            event_type: EventType::Normal,
            reason: "SuccessfulDelete".into(),
            message: format!("delete Pod {pod_name} in StatefulSet {name} successful"),
        });
    };

    // Pods within the replicas, in order.
    let mut wait = false;
    for i in start..end {
        match slots.get(&i) {
            None => {
                created(&mut out, i);
                if monotonic {
                    wait = true;
                    break;
                }
            }
            Some(pod) if is_finished(pod) && !is_terminating(pod) => {
                // A failed (or completed) pod is replaced under the same name.
                deleted(&mut out, pod);
                if monotonic {
                    wait = true;
                    break;
                }
            }
            Some(pod) => {
                if let Some(patch) = identity_patch(pod, i) {
                    out.actions.push(Action::MergePatch {
                        target: Target::PODS,
                        namespace: Some(ns.into()),
                        name: pod.metadata.name.clone().unwrap_or_default(),
                        patch,
                    });
                }
                if monotonic && !is_healthy(pod, min_ready, now) {
                    wait = true;
                    break;
                }
            }
        }
    }
    // Pods beyond the replicas, from the highest ordinal down.
    if !wait {
        if monotonic {
            if condemned.iter().all(|(_, p)| !is_terminating(p))
                && let Some((_, pod)) = condemned.first()
            {
                deleted(&mut out, pod);
                wait = true;
            } else if !condemned.is_empty() {
                wait = true; // one is going: wait for it
            }
        } else {
            for (_, pod) in condemned.iter().filter(|(_, p)| !is_terminating(p)) {
                deleted(&mut out, pod);
            }
        }
    }
    // Rolling update: pods of old revisions from the highest ordinal to the partition.
    if !wait && !on_delete {
        let outdated = |p: &Pod| revision_of(p) != Some(update.name.as_str()) && !is_terminating(p);
        let targets: Vec<(i32, &Pod)> = (start + partition..end)
            .rev()
            .filter_map(|i| slots.get(&i).map(|p| (i, *p)))
            .collect();
        match rolling.and_then(|r| r.max_unavailable.as_ref()) {
            Some(mu) => {
                let budget = max_unavailable(mu, replicas);
                let unavailable = (start..end)
                    .filter(|i| slots.get(i).is_none_or(|p| !is_healthy(p, min_ready, now)))
                    .count();
                let room = usize::try_from(budget)
                    .unwrap_or(1)
                    .saturating_sub(unavailable);
                for (_, pod) in targets.into_iter().filter(|(_, p)| outdated(p)).take(room) {
                    deleted(&mut out, pod);
                }
            }
            None => {
                for (_, pod) in targets {
                    if outdated(pod) {
                        deleted(&mut out, pod);
                        break;
                    }
                    if !is_healthy(pod, min_ready, now) {
                        break;
                    }
                }
            }
        }
    }

    // History beyond the limit: never the current or update revision or one a pod runs.
    let mut live: BTreeSet<String> = mine
        .iter()
        .filter_map(|p| revision_of(p).map(str::to_string))
        .collect();
    live.insert(current_name.clone());
    live.insert(update.name.clone());
    out.actions.extend(history::truncate(
        uid,
        revisions,
        &live,
        spec.revision_history_limit.unwrap_or(10),
    ));

    let (total, ready, available, mut current_replicas, updated) = status_counts;
    let mut current = current_name.clone();
    // A finished rolling update makes the update revision current.
    if !on_delete && updated == total && ready == total {
        current_replicas = updated;
        current = update.name.clone();
    }
    let mut status = json!({
        "observedGeneration": set.metadata.generation,
        "replicas": total,
        "readyReplicas": ready,
        "availableReplicas": available,
        "currentReplicas": current_replicas,
        "updatedReplicas": updated,
        "currentRevision": current,
        "updateRevision": update.name,
        "collisionCount": collision.unwrap_or(0),
    });
    let mut old = json!({
        "observedGeneration": old_status.observed_generation,
        "replicas": old_status.replicas,
        "readyReplicas": old_status.ready_replicas.unwrap_or(0),
        "availableReplicas": old_status.available_replicas.unwrap_or(0),
        "currentReplicas": old_status.current_replicas.unwrap_or(0),
        "updatedReplicas": old_status.updated_replicas.unwrap_or(0),
        "currentRevision": old_status.current_revision,
        "updateRevision": old_status.update_revision,
        "collisionCount": old_status.collision_count.unwrap_or(0),
    });
    if let Some(kept) = invalid_spec::cleared(&conditions) {
        status["conditions"] = json!(kept);
        old["conditions"] = json!(conditions);
    }
    if status != old {
        out.actions.push(Action::PatchStatus {
            target: Target::STATEFULSETS,
            namespace: Some(ns.into()),
            name: name.into(),
            status,
        });
    }
    out
}

#[cfg(test)]
mod tests;
