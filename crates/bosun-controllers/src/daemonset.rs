//! The DaemonSet controller: one pod on every eligible node (nodeSelector, required node
//! affinity, taints against the pod's tolerations plus the ones DaemonSet pods get by
//! default), created with node affinity to that node so the scheduler binds it there; pods
//! leave nodes that stop being eligible; RollingUpdate replaces pods of an old template at most
//! `maxUnavailable` at a time.

use crate::action::{Action, EventType, Reconcile, Target};
use crate::controller_revision::{self as history, History};
use crate::node::Node;
use crate::pod::Pod;
use crate::pod_state::{
    controller_owner_reference, is_controlled_by, is_pod_available, is_pod_ready, object_reference,
    phase,
};
use crate::pod_template::{name_suffix, pod_from_template};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Taint, Toleration};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub use crate::controller_revision::HASH_LABEL;

/// The tolerations every DaemonSet pod gets (as upstream's daemon controller adds them).
pub fn default_tolerations() -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Toleration::default()
    };
    vec![
        t("node.kubernetes.io/not-ready", "NoExecute"),
        t("node.kubernetes.io/unreachable", "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
}

fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    match t.operator.as_deref() {
        Some("Exists") => t
            .key
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == taint.key),
        _ => {
            t.key.as_deref() == Some(taint.key.as_str())
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// Whether the DaemonSet should run on `node`.
pub fn eligible(ds: &DaemonSet, node: &Node) -> bool {
    let Some(pod_spec) = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
        return false;
    };
    let labels = node.metadata.labels.clone().unwrap_or_default();
    if let Some(sel) = &pod_spec.node_selector
        && !sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    if let Some(req) = pod_spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
    {
        let name = node.metadata.name.clone().unwrap_or_default();
        let fits = req.node_selector_terms.iter().any(|term| {
            term.match_expressions.iter().flatten().all(|r| {
                let v = labels.get(&r.key);
                let vals = r.values.as_deref().unwrap_or(&[]);
                match r.operator.as_str() {
                    "In" => v.is_some_and(|v| vals.contains(v)),
                    "NotIn" => v.is_none_or(|v| !vals.contains(v)),
                    "Exists" => v.is_some(),
                    "DoesNotExist" => v.is_none(),
                    _ => false,
                }
            }) && term.match_fields.iter().flatten().all(|r| {
                r.key == "metadata.name" && r.values.as_deref().unwrap_or(&[]).contains(&name)
            })
        });
        if !fits {
            return false;
        }
    }
    let mut tolerations = pod_spec.tolerations.clone().unwrap_or_default();
    tolerations.extend(default_tolerations());
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
}

/// The node a DaemonSet pod is for: where it runs, or the node its affinity names.
pub fn node_of(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.clone().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|f| f.key == "metadata.name")
        .and_then(|f| f.values.as_ref()?.first().cloned())
}

fn max_unavailable(ds: &DaemonSet, desired: i32) -> i32 {
    let v = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or(IntOrString::Int(1));
    let n = match v {
        IntOrString::Int(n) => n,
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            i32::try_from((pct * i64::from(desired) + 99) / 100).unwrap_or(1)
        }
    };
    n.max(1)
}

/// Decide for one DaemonSet given every node and the pods of its namespace.
pub fn reconcile(
    ds: &DaemonSet,
    nodes: &[&Node],
    pods: &[&Pod],
    revisions: &[&ControllerRevision],
    now: Timestamp,
) -> Reconcile {
    let mut out = Reconcile::default();
    let (Some(name), Some(uid), Some(ns)) = (
        ds.metadata.name.as_deref(),
        ds.metadata.uid.as_deref(),
        ds.metadata.namespace.as_deref(),
    ) else {
        return out;
    };
    let Some(spec) = ds.spec.as_ref() else {
        return out;
    };
    if ds.metadata.deletion_timestamp.is_some() {
        return out;
    }
    let Some(owner) = controller_owner_reference("apps/v1", "DaemonSet", &ds.metadata) else {
        return out;
    };
    let reference = object_reference("apps/v1", "DaemonSet", &ds.metadata);
    let collision = ds.status.as_ref().and_then(|s| s.collision_count);
    // History: the revision of this template, which names the pods that run it.
    let hash = match history::sync(
        "apps/v1",
        "DaemonSet",
        &ds.metadata,
        &spec.template,
        collision,
        revisions,
    ) {
        History::Synced { update, actions } => {
            out.actions.extend(actions);
            update.hash
        }
        History::Collision { collision_count } => {
            out.actions.push(Action::PatchStatus {
                target: Target::DAEMONSETS,
                namespace: Some(ns.into()),
                name: name.into(),
                status: json!({"collisionCount": collision_count}),
            });
            return out;
        }
    };
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let on_delete = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete");

    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for p in pods
        .iter()
        .copied()
        .filter(|p| is_controlled_by(&p.metadata, uid) && p.metadata.deletion_timestamp.is_none())
    {
        if matches!(phase(p), "Succeeded" | "Failed") {
            // A finished daemon pod is replaced.
            out.actions.push(delete(ns, p));
            continue;
        }
        if let Some(n) = node_of(p) {
            by_node.entry(n).or_default().push(p);
        }
    }
    let delete_pod = |out: &mut Reconcile, p: &Pod| {
        out.actions.push(delete(ns, p));
        out.actions.push(Action::Event {
            involved: reference.clone(),
            event_type: EventType::Normal,
            reason: "SuccessfulDelete".into(),
            message: format!("Deleted pod: {}", p.metadata.name.as_deref().unwrap_or("")),
        });
    };
    let (mut desired, mut current, mut ready, mut available, mut updated, mut misscheduled) =
        (0, 0, 0, 0, 0, 0);
    let mut old_pods: Vec<&Pod> = Vec::new();
    let mut unavailable = 0;
    for (i, node) in nodes.iter().enumerate() {
        let node_name = node.metadata.name.clone().unwrap_or_default();
        let here = by_node.remove(&node_name).unwrap_or_default();
        if !eligible(ds, node) {
            misscheduled += i32::from(!here.is_empty());
            for p in here {
                delete_pod(&mut out, p);
            }
            continue;
        }
        desired += 1;
        if here.is_empty() {
            let pod_name = format!("{name}-{}", name_suffix(uid, now, i));
            let mut pod = pod_from_template(&spec.template, &pod_name, ns, &owner);
            pod["metadata"]["labels"][HASH_LABEL] = json!(hash);
            pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]
            });
            let mut tolerations: Vec<Value> = pod["spec"]["tolerations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            tolerations.extend(default_tolerations().iter().map(|t| json!(t)));
            pod["spec"]["tolerations"] = json!(tolerations);
            out.actions.push(Action::Create {
                target: Target::PODS,
                namespace: Some(ns.into()),
                object: pod,
            });
            out.actions.push(Action::Event {
                involved: reference.clone(),
                event_type: EventType::Normal,
                reason: "SuccessfulCreate".into(),
                message: format!("Created pod: {pod_name}"),
            });
            unavailable += 1;
            continue;
        }
        current += 1;
        // Extra pods on one node: keep the oldest.
        let mut here = here;
        here.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
        for extra in here.iter().skip(1) {
            delete_pod(&mut out, extra);
        }
        let p = here[0];
        ready += i32::from(is_pod_ready(p));
        let avail = is_pod_available(p, min_ready, now);
        available += i32::from(avail);
        unavailable += i32::from(!avail);
        let is_updated = p.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)) == Some(&hash);
        updated += i32::from(is_updated);
        if !is_updated {
            old_pods.push(p);
        }
    }
    // Pods on nodes that no longer exist.
    for (_, gone) in by_node {
        for p in gone {
            delete_pod(&mut out, p);
        }
    }
    // Rolling update: replace old pods while the unavailable budget allows.
    if !on_delete {
        let budget = (max_unavailable(ds, desired) - unavailable).max(0) as usize;
        // Unavailable old pods go at once (replacing them costs nothing, as upstream); then
        // available ones while the unavailable budget allows.
        let (available_old, unavailable_old): (Vec<&Pod>, Vec<&Pod>) = old_pods
            .into_iter()
            .partition(|p| is_pod_available(p, min_ready, now));
        for p in unavailable_old {
            delete_pod(&mut out, p);
        }
        for p in available_old.into_iter().take(budget) {
            delete_pod(&mut out, p);
        }
    }
    // History beyond the limit: never the update revision or one a pod runs.
    let mut live: std::collections::BTreeSet<String> = pods
        .iter()
        .filter(|p| is_controlled_by(&p.metadata, uid))
        .filter_map(|p| p.metadata.labels.as_ref()?.get(HASH_LABEL).cloned())
        .collect();
    live.insert(hash.clone());
    out.actions.extend(history::truncate(
        uid,
        revisions,
        &live,
        spec.revision_history_limit.unwrap_or(10),
    ));
    let status = json!({
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "numberAvailable": available,
        "numberUnavailable": (desired - available).max(0),
        "updatedNumberScheduled": updated,
        "observedGeneration": ds.metadata.generation,
    });
    let old = ds.status.clone().unwrap_or_default();
    let current_status = json!({
        "desiredNumberScheduled": old.desired_number_scheduled,
        "currentNumberScheduled": old.current_number_scheduled,
        "numberMisscheduled": old.number_misscheduled,
        "numberReady": old.number_ready,
        "numberAvailable": old.number_available.unwrap_or(0),
        "numberUnavailable": old.number_unavailable.unwrap_or(0),
        "updatedNumberScheduled": old.updated_number_scheduled.unwrap_or(0),
        "observedGeneration": old.observed_generation,
    });
    if status != current_status {
        out.actions.push(Action::PatchStatus {
            target: Target::DAEMONSETS,
            namespace: Some(ns.into()),
            name: name.into(),
            status,
        });
    }
    out
}

fn delete(ns: &str, p: &Pod) -> Action {
    Action::Delete {
        target: Target::PODS,
        namespace: Some(ns.into()),
        name: p.metadata.name.clone().unwrap_or_default(),
        uid: p.metadata.uid.clone(),
        propagation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("time")
    }

    fn ds(extra: Value) -> DaemonSet {
        let mut d = json!({
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds-uid", "generation": 1},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
            }
        });
        if let (Some(spec), Some(extra)) = (
            d["spec"]["template"]["spec"].as_object_mut(),
            extra.as_object(),
        ) {
            for (k, v) in extra {
                spec.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(d).expect("ds")
    }

    fn node(name: &str, labels: Value, taints: Value) -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}}),
        )
        .expect("node")
    }

    fn creates_for(r: &Reconcile) -> Vec<String> {
        r.actions
            .iter()
            .filter_map(|a| match a {
                Action::Create { object, .. } => object["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
                    .as_str()
                    .map(str::to_string),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_eligible_node_gets_one_pod_pinned_by_affinity() {
        let nodes = [
            node("a", json!({"disk": "ssd"}), json!([])),
            node(
                "b",
                json!({}),
                json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
            ),
            node(
                "c",
                json!({}),
                json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
            ),
        ];
        let refs: Vec<&Node> = nodes.iter().collect();
        let r = reconcile(&ds(json!({})), &refs, &[], &[], t(0));
        assert_eq!(
            creates_for(&r),
            vec!["a", "b"],
            "the gpu taint is not tolerated; unreachable is by default"
        );
        let selective = ds(json!({"nodeSelector": {"disk": "ssd"}}));
        assert_eq!(
            creates_for(&reconcile(&selective, &refs, &[], &[], t(0))),
            vec!["a"]
        );
        let tolerant = ds(json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]}));
        assert_eq!(
            creates_for(&reconcile(&tolerant, &refs, &[], &[], t(0))).len(),
            3
        );
    }

    #[test]
    fn pods_leave_ineligible_and_vanished_nodes() {
        let d = ds(json!({"nodeSelector": {"disk": "ssd"}}));
        let hash = history::hash(
            &history::patch_of(&d.spec.as_ref().expect("spec").template),
            None,
        );
        let pod = |name: &str, node: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "kube-system", "uid": name,
                             "labels": {"app": "agent", HASH_LABEL: hash},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "ds-uid", "controller": true}]},
                "spec": {"nodeName": node, "containers": []},
                "status": {"phase": "Running"}
            }))
            .expect("pod")
        };
        let nodes = [
            node("a", json!({"disk": "ssd"}), json!([])),
            node("b", json!({}), json!([])),
        ];
        let refs: Vec<&Node> = nodes.iter().collect();
        let (pa, pb, pz) = (pod("pa", "a"), pod("pb", "b"), pod("pz", "zzz"));
        let r = reconcile(&d, &refs, &[&pa, &pb, &pz], &[], t(0));
        let deleted: Vec<String> = r
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Delete { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        assert!(
            deleted.contains(&"pb".to_string())
                && deleted.contains(&"pz".to_string())
                && !deleted.contains(&"pa".to_string()),
            "{deleted:?}"
        );
        let status = r
            .actions
            .iter()
            .find_map(|a| match a {
                Action::PatchStatus { status, .. } => Some(status.clone()),
                _ => None,
            })
            .expect("status");
        assert_eq!(status["desiredNumberScheduled"], 1);
        assert_eq!(status["numberMisscheduled"], 1);
    }

    #[test]
    fn templates_are_kept_as_revisions_that_name_the_pods() {
        let nodes = [node("a", json!({}), json!([]))];
        let refs: Vec<&Node> = nodes.iter().collect();
        let d1 = ds(json!({}));
        let r = reconcile(&d1, &refs, &[], &[], t(0));
        let (rev, pod) = {
            let mut rev = None;
            let mut pod = None;
            for a in &r.actions {
                if let Action::Create { target, object, .. } = a {
                    if *target == Target::CONTROLLERREVISIONS {
                        rev = Some(object.clone());
                    } else if *target == Target::PODS {
                        pod = Some(object.clone());
                    }
                }
            }
            (rev.expect("a revision"), pod.expect("a pod"))
        };
        assert_eq!(rev["revision"], 1);
        assert_eq!(
            rev["metadata"]["labels"]["app"], "agent",
            "kubectl finds it by the selector"
        );
        assert_eq!(rev["metadata"]["ownerReferences"][0]["uid"], "ds-uid");
        let hash = rev["metadata"]["labels"][HASH_LABEL].clone();
        assert_eq!(pod["metadata"]["labels"][HASH_LABEL], hash);
        assert_eq!(
            rev["metadata"]["name"],
            format!("agent-{}", hash.as_str().unwrap_or_default())
        );

        // A new template: a second revision, the old pod replaced.
        let mut stored: ControllerRevision = serde_json::from_value(rev).expect("revision");
        stored.metadata.uid = Some("r1".into());
        let mut running: Pod = serde_json::from_value(pod).expect("pod");
        running.metadata.uid = Some("p1".into());
        running.spec.as_mut().expect("spec").node_name = Some("a".into());
        let d2 = ds(json!({"hostNetwork": true}));
        let r = reconcile(&d2, &refs, &[&running], &[&stored], t(1));
        assert!(r.actions.iter().any(|a| matches!(a, Action::Create { target, object, .. } if *target == Target::CONTROLLERREVISIONS && object["revision"] == 2)));
        assert!(r.actions.iter().any(|a| matches!(a, Action::Delete { target, name, .. } if *target == Target::PODS && name == running.metadata.name.as_deref().unwrap_or_default())));
        // Back to the first template (rollout undo): revision 1 is renumbered, not copied.
        let mut second = stored.clone();
        second.metadata.name = Some("agent-other".into());
        second.metadata.uid = Some("r2".into());
        second.revision = 2;
        second.data = Some(k8s_openapi::apimachinery::pkg::runtime::RawExtension(
            history::patch_of(&d2.spec.as_ref().expect("spec").template),
        ));
        let r = reconcile(&d1, &refs, &[&running], &[&stored, &second], t(2));
        assert!(r.actions.iter().any(|a| matches!(a, Action::MergePatch { target, patch, .. } if *target == Target::CONTROLLERREVISIONS && patch["revision"] == 3)));
        assert!(!r.actions.iter().any(
            |a| matches!(a, Action::Create { target, .. } if *target == Target::CONTROLLERREVISIONS)
        ));
    }
}
