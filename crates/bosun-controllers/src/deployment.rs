//! The Deployment controller: one ReplicaSet per pod template, rolled out with RollingUpdate
//! (maxSurge / maxUnavailable) or Recreate, revisions kubectl can list and undo, and the
//! status and conditions `kubectl rollout status` reads.

use crate::action::{Action, EventType, Reconcile, Target};
use crate::pod::Pod;
use crate::pod_state::{controller_owner_reference, controller_ref, is_active, object_reference};
use crate::pod_template::template_hash;
use crate::selector;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const HASH_LABEL: &str = "pod-template-hash";

/// Resolve maxSurge / maxUnavailable against `replicas` like upstream: surge rounds up,
/// unavailable rounds down, and both zero makes unavailable one.
pub fn resolve_fenceposts(
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
    replicas: i32,
) -> (i32, i32) {
    let resolve = |v: Option<&IntOrString>, default: &str, round_up: bool| -> i32 {
        let v = v.cloned().unwrap_or(IntOrString::String(default.into()));
        match v {
            IntOrString::Int(n) => n,
            IntOrString::String(s) => {
                let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
                let scaled = pct * i64::from(replicas);
                let n = if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                };
                i32::try_from(n).unwrap_or(0)
            }
        }
    };
    let surge = resolve(surge, "25%", true);
    let unavailable = resolve(unavailable, "25%", false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn revision_of(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn status_of(rs: &ReplicaSet) -> (i32, i32, i32) {
    let s = rs.status.clone().unwrap_or_default();
    (
        s.replicas,
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
    )
}

fn rs_name(rs: &ReplicaSet) -> String {
    rs.metadata.name.clone().unwrap_or_default()
}

fn scale(
    out: &mut Reconcile,
    d: &Deployment,
    rs: &ReplicaSet,
    to: i32,
    replicas: i32,
    max_surge: i32,
) {
    let from = spec_replicas(rs);
    if from == to {
        return;
    }
    let ns = rs.metadata.namespace.clone();
    out.actions.push(Action::MergePatch {
        target: Target::REPLICASETS,
        namespace: ns,
        name: rs_name(rs),
        patch: json!({
            "metadata": {"annotations": {
                DESIRED_REPLICAS: replicas.to_string(),
                MAX_REPLICAS: (replicas + max_surge).to_string(),
            }},
            "spec": {"replicas": to},
        }),
    });
    out.actions.push(Action::Event {
        involved: object_reference("apps/v1", "Deployment", &d.metadata),
        event_type: EventType::Normal,
        reason: "ScalingReplicaSet".into(),
        message: format!(
            "Scaled {} replica set {} from {from} to {to}",
            if to > from { "up" } else { "down" },
            rs_name(rs)
        ),
    });
}

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    old: &[DeploymentCondition],
    now: Timestamp,
) -> DeploymentCondition {
    let prev = old.iter().find(|c| c.type_ == type_);
    let same = prev.is_some_and(|c| c.status == status);
    let same_reason =
        prev.is_some_and(|c| c.status == status && c.reason.as_deref() == Some(reason));
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: if same {
            prev.and_then(|c| c.last_transition_time.clone())
        } else {
            Some(Time(now))
        },
        // lastUpdateTime moves when the condition says something new.
        last_update_time: if same_reason {
            prev.and_then(|c| c.last_update_time.clone())
        } else {
            Some(Time(now))
        },
    }
}

/// Decide for one Deployment given the ReplicaSets and pods of its namespace.
pub fn reconcile(d: &Deployment, rss: &[&ReplicaSet], pods: &[&Pod], now: Timestamp) -> Reconcile {
    let mut out = Reconcile::default();
    let (Some(name), Some(uid), Some(ns)) = (
        d.metadata.name.as_deref(),
        d.metadata.uid.as_deref(),
        d.metadata.namespace.as_deref(),
    ) else {
        return out;
    };
    let Some(spec) = d.spec.as_ref() else {
        return out;
    };
    if d.metadata.deletion_timestamp.is_some() {
        return out;
    }
    let reference = object_reference("apps/v1", "Deployment", &d.metadata);
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone());
    if !selector::matches(Some(&spec.selector), template_labels.as_ref()) {
        out.actions.push(Action::Event {
            involved: reference,
            event_type: EventType::Warning,
            reason: "SelectorMismatch".into(),
            message: "selector does not match template labels".into(),
        });
        return out;
    }
    let Some(owner) = controller_owner_reference("apps/v1", "Deployment", &d.metadata) else {
        return out;
    };

    // Claim ReplicaSets: ours, and orphans matching the selector.
    let mut mine: Vec<&ReplicaSet> = Vec::new();
    for rs in rss {
        match controller_ref(&rs.metadata) {
            Some(r) if r.uid == uid => mine.push(rs),
            None if selector::matches(Some(&spec.selector), rs.metadata.labels.as_ref())
                && rs.metadata.deletion_timestamp.is_none() =>
            {
                let mut refs = rs.metadata.owner_references.clone().unwrap_or_default();
                refs.push(owner.clone());
                out.actions.push(Action::MergePatch {
                    target: Target::REPLICASETS,
                    namespace: Some(ns.into()),
                    name: rs_name(rs),
                    patch: json!({"metadata": {"ownerReferences": refs}}),
                });
                mine.push(rs);
            }
            _ => {}
        }
    }
    let replicas = spec.replicas.unwrap_or(1);
    let recreate = spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    let rolling = spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    let (max_surge, max_unavailable) = if recreate {
        (0, 0)
    } else {
        resolve_fenceposts(
            rolling.and_then(|r| r.max_surge.as_ref()),
            rolling.and_then(|r| r.max_unavailable.as_ref()),
            replicas,
        )
    };
    let collision = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = template_hash(&spec.template, collision);
    let new_rs: Option<&ReplicaSet> = mine
        .iter()
        .copied()
        .find(|rs| rs.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)) == Some(&hash));
    let mut olds: Vec<&ReplicaSet> = mine
        .iter()
        .copied()
        .filter(|rs| new_rs.is_none_or(|n| n.metadata.uid != rs.metadata.uid))
        .collect();
    olds.sort_by_key(|rs| {
        (
            rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            rs_name(rs),
        )
    });
    let max_old_revision = olds.iter().map(|rs| revision_of(rs)).max().unwrap_or(0);
    let paused = spec.paused == Some(true);
    let mut created_new: Option<String> = None;

    match new_rs {
        None if !paused => {
            // A new ReplicaSet for this template.
            let new_name = format!("{name}-{hash}");
            let mut labels = template_labels.clone().unwrap_or_default();
            labels.insert(HASH_LABEL.into(), hash.clone());
            let mut sel = spec.selector.clone();
            sel.match_labels
                .get_or_insert_with(BTreeMap::new)
                .insert(HASH_LABEL.into(), hash.clone());
            let mut template = spec.template.clone();
            template
                .metadata
                .get_or_insert_with(Default::default)
                .labels = Some(labels.clone());
            let old_active: i32 = olds.iter().map(|rs| spec_replicas(rs)).sum();
            let start = if recreate {
                if old_active > 0 { 0 } else { replicas }
            } else {
                // Surge as far as allowed at once.
                (replicas + max_surge - old_active).clamp(0, replicas)
            };
            let mut annotations = d.metadata.annotations.clone().unwrap_or_default();
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            annotations.insert(REVISION.into(), (max_old_revision + 1).to_string());
            annotations.insert(DESIRED_REPLICAS.into(), replicas.to_string());
            annotations.insert(MAX_REPLICAS.into(), (replicas + max_surge).to_string());
            out.actions.push(Action::Create {
                target: Target::REPLICASETS,
                namespace: Some(ns.into()),
                object: json!({
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": new_name,
                        "namespace": ns,
                        "labels": labels,
                        "annotations": annotations,
                        "ownerReferences": [owner],
                    },
                    "spec": {
                        "replicas": start,
                        "minReadySeconds": spec.min_ready_seconds.unwrap_or(0),
                        "selector": sel,
                        "template": template,
                    }
                }),
            });
            out.actions.push(Action::Event {
                involved: reference.clone(),
                event_type: EventType::Normal,
                reason: "ScalingReplicaSet".into(),
                message: format!("Scaled up replica set {new_name} from 0 to {start}"),
            });
            created_new = Some(new_name);
        }
        Some(new) if !paused => {
            // A rollback to an old template makes its ReplicaSet the newest revision again.
            if revision_of(new) <= max_old_revision {
                let old_rev = revision_of(new);
                let mut history: Vec<String> = new
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(REVISION_HISTORY))
                    .map(|h| h.split(',').map(str::to_string).collect())
                    .unwrap_or_default();
                if old_rev > 0 {
                    history.push(old_rev.to_string());
                }
                out.actions.push(Action::MergePatch {
                    target: Target::REPLICASETS,
                    namespace: Some(ns.into()),
                    name: rs_name(new),
                    patch: json!({"metadata": {"annotations": {
                        REVISION: (max_old_revision + 1).to_string(),
                        REVISION_HISTORY: history.join(","),
                    }}}),
                });
            }
            let old_total: i32 = olds.iter().map(|rs| spec_replicas(rs)).sum();
            let new_replicas = spec_replicas(new);
            if recreate {
                let old_pods_alive = pods.iter().any(|p| {
                    is_active(p)
                        && controller_ref(&p.metadata).is_some_and(|r| {
                            olds.iter()
                                .any(|o| o.metadata.uid.as_deref() == Some(r.uid.as_str()))
                        })
                });
                for old in &olds {
                    scale(&mut out, d, old, 0, replicas, 0);
                }
                if old_total == 0 && !old_pods_alive {
                    scale(&mut out, d, new, replicas, replicas, 0);
                }
            } else if old_total == 0 {
                // Nothing to roll: the new ReplicaSet follows spec.replicas.
                scale(&mut out, d, new, replicas, replicas, max_surge);
            } else {
                // Scale up the new ReplicaSet within maxSurge.
                let all: i32 = old_total + new_replicas;
                let max_total = replicas + max_surge;
                if new_replicas < replicas && all < max_total {
                    let up = (max_total - all).min(replicas - new_replicas);
                    scale(&mut out, d, new, new_replicas + up, replicas, max_surge);
                } else if new_replicas > replicas {
                    scale(&mut out, d, new, replicas, replicas, max_surge);
                }
                // Scale down old ReplicaSets within maxUnavailable.
                let min_available = replicas - max_unavailable;
                let (_, _, new_available) = status_of(new);
                let new_unavailable = (new_replicas - new_available).max(0);
                let mut budget = (all - min_available - new_unavailable).max(0);
                // First the old replicas that are not available anyway.
                let mut planned: BTreeMap<String, i32> = olds
                    .iter()
                    .map(|rs| (rs_name(rs), spec_replicas(rs)))
                    .collect();
                for old in &olds {
                    if budget == 0 {
                        break;
                    }
                    let (_, _, available) = status_of(old);
                    let current = planned[&rs_name(old)];
                    let unhealthy = (current - available).max(0).min(budget);
                    if unhealthy > 0 {
                        planned.insert(rs_name(old), current - unhealthy);
                        budget -= unhealthy;
                    }
                }
                // Then available ones, oldest first, keeping minAvailable.
                let available_total: i32 = mine.iter().map(|rs| status_of(rs).2).sum();
                let mut can_remove = (available_total - min_available).max(0);
                for old in &olds {
                    if can_remove == 0 {
                        break;
                    }
                    let current = planned[&rs_name(old)];
                    let (_, _, available) = status_of(old);
                    let down = current.min(available).min(can_remove);
                    if down > 0 {
                        planned.insert(rs_name(old), current - down);
                        can_remove -= down;
                    }
                }
                for old in &olds {
                    scale(
                        &mut out,
                        d,
                        old,
                        planned[&rs_name(old)],
                        replicas,
                        max_surge,
                    );
                }
            }
        }
        _ => {
            // Paused: no rollout, but scaling follows spec.replicas when nothing is rolling.
            if let Some(new) = new_rs
                && olds.iter().all(|rs| spec_replicas(rs) == 0)
            {
                scale(&mut out, d, new, replicas, replicas, max_surge);
            }
        }
    }

    // History: old ReplicaSets with nothing left, beyond revisionHistoryLimit, go.
    let limit = usize::try_from(spec.revision_history_limit.unwrap_or(10).max(0)).unwrap_or(10);
    let idle: Vec<&&ReplicaSet> = olds
        .iter()
        .filter(|rs| {
            spec_replicas(rs) == 0
                && status_of(rs).0 == 0
                && rs.metadata.deletion_timestamp.is_none()
        })
        .collect();
    if idle.len() > limit {
        let mut by_revision = idle.clone();
        by_revision.sort_by_key(|rs| revision_of(rs));
        for rs in by_revision.into_iter().take(idle.len() - limit) {
            out.actions.push(Action::Delete {
                target: Target::REPLICASETS,
                namespace: Some(ns.into()),
                name: rs_name(rs),
                uid: rs.metadata.uid.clone(),
                propagation: Some("Background"),
            });
        }
    }

    // Status.
    let updated = new_rs.map_or(0, |rs| status_of(rs).0);
    let total_status: i32 = mine.iter().map(|rs| status_of(rs).0).sum();
    let ready: i32 = mine.iter().map(|rs| status_of(rs).1).sum();
    let available: i32 = mine.iter().map(|rs| status_of(rs).2).sum();
    let total_spec: i32 = mine.iter().map(|rs| spec_replicas(rs)).sum();
    let old_conditions = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let min_available = replicas - max_unavailable;
    let mut conditions = vec![if available >= min_available {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            &old_conditions,
            now,
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            &old_conditions,
            now,
        )
    }];
    let new_name = created_new
        .clone()
        .or_else(|| new_rs.map(rs_name))
        .unwrap_or_default();
    let complete = new_rs.is_some()
        && updated == replicas
        && total_status == replicas
        && available >= replicas
        && olds.iter().all(|rs| status_of(rs).0 == 0);
    let old_progress = old_conditions.iter().find(|c| c.type_ == "Progressing");
    let progressing = if paused {
        condition(
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
            &old_conditions,
            now,
        )
    } else if created_new.is_some() {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{new_name}\""),
            &old_conditions,
            now,
        )
    } else if complete {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            &old_conditions,
            now,
        )
    } else {
        // Still rolling: past the deadline since the last progress, it has timed out.
        let deadline = i64::from(spec.progress_deadline_seconds.unwrap_or(600));
        let last = old_progress
            .and_then(|c| c.last_update_time.as_ref())
            .map(|t| t.0);
        let timed_out = old_progress
            .is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
            || last.is_some_and(|l| l + SignedDuration::from_secs(deadline) <= now);
        if timed_out {
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                &old_conditions,
                now,
            )
        } else {
            if let Some(l) = last {
                let due = l + SignedDuration::from_secs(deadline);
                out.requeue_at_most(
                    Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO)
                        + Duration::from_secs(1),
                );
            }
            let mut c = condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{new_name}\" is progressing."),
                &old_conditions,
                now,
            );
            // Progress (something changed) moves lastUpdateTime; it drives the deadline.
            if !out.actions.is_empty() {
                c.last_update_time = Some(Time(now));
            }
            c
        }
    };
    conditions.push(progressing);
    let status = json!({
        "observedGeneration": d.metadata.generation,
        "replicas": total_status,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": (total_spec - available).max(0),
        "conditions": conditions,
        "collisionCount": collision,
    });
    let current = d.status.as_ref().map(|s| {
        json!({
            "observedGeneration": s.observed_generation,
            "replicas": s.replicas.unwrap_or(0),
            "updatedReplicas": s.updated_replicas.unwrap_or(0),
            "readyReplicas": s.ready_replicas.unwrap_or(0),
            "availableReplicas": s.available_replicas.unwrap_or(0),
            "unavailableReplicas": s.unavailable_replicas.unwrap_or(0),
            "conditions": s.conditions,
            "collisionCount": s.collision_count,
        })
    });
    if current.as_ref() != Some(&strip_nulls(status.clone())) && current.as_ref() != Some(&status) {
        out.actions.push(Action::PatchStatus {
            target: Target::DEPLOYMENTS,
            namespace: Some(ns.into()),
            name: name.into(),
            status,
        });
    }
    out
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, x| !x.is_null());
    }
    v
}

#[cfg(test)]
mod tests;
