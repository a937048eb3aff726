//! DefaultPreemption (PostFilter), pure: when a pod fits nowhere, find the node where evicting
//! the fewest and least important lower-priority pods lets it fit.
//!
//! As kube-scheduler does it: only nodes whose filters failed for a reason that removing pods
//! can change are candidates. On each, every lower-priority pod is taken off; if the pod then
//! fits, the removed pods are put back one by one, most important first, keeping each that
//! still leaves room: those that cannot be put back are the victims. Among the candidates the
//! node is chosen by, in order: the lowest priority of its most important victim, the smallest
//! sum of victim priorities, the fewest victims, the latest start of its most important
//! victims, then the first. (PodDisruptionBudgets are not considered.)

use crate::framework::{Cycle, Profile, unschedulable_message};
use crate::snapshot::{NodeInfo, PlacedPod, Snapshot};
use k8s_openapi::api::core::v1::Pod;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The outcome: the node to nominate and the pods to evict there.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    /// Most important first.
    pub victims: Vec<Arc<PlacedPod>>,
}

/// A pod's priority.
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Whether the pod may preempt: not when its policy is `Never`, nor while lower-priority pods
/// on the node it was already nominated to are still terminating (an earlier preemption is
/// under way).
pub fn eligible(pod: &Pod, snapshot: &Snapshot) -> bool {
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref())
        == Some("Never")
    {
        return false;
    }
    let own = priority(pod);
    match crate::framework::nominated_node(pod).and_then(|n| snapshot.node(n)) {
        Some(info) => !info
            .pods
            .iter()
            .any(|p| (p.terminating || p.preempted) && p.priority < own),
        None => true,
    }
}

/// kube's MoreImportantPod as a sort key: higher priority, then started earlier.
fn importance(p: &PlacedPod) -> (Reverse<i32>, i64) {
    (Reverse(p.priority), p.start_time)
}

/// The victims on one node, most important first, or `None` when the pod would not fit even
/// with every lower-priority pod gone (or fits with none gone).
pub fn victims_on_node(
    cycle: &Cycle,
    info: &NodeInfo,
    snapshot: &Snapshot,
) -> Option<Vec<Arc<PlacedPod>>> {
    let own = priority(cycle.pod);
    let mut lower: Vec<Arc<PlacedPod>> = info
        .pods
        .iter()
        .filter(|p| p.priority < own)
        .cloned()
        .collect();
    if lower.is_empty() {
        return None;
    }
    // Only now the copies: most nodes of a cluster without priorities end above.
    let mut cycle = cycle.clone();
    let mut node = info.clone();
    for p in &lower {
        node.remove(&p.uid);
        cycle.update(p, &node, snapshot, -1);
    }
    cycle.filter(&node, snapshot).ok()?;
    lower.sort_by_key(|p| importance(p));
    let mut victims = Vec::new();
    for p in lower {
        node.add(p.clone());
        cycle.update(&p, &node, snapshot, 1);
        if cycle.filter(&node, snapshot).is_err() {
            node.remove(&p.uid);
            cycle.update(&p, &node, snapshot, -1);
            victims.push(p);
        }
    }
    (!victims.is_empty()).then_some(victims)
}

/// The order among candidates: smaller is better.
fn rank(victims: &[Arc<PlacedPod>]) -> (i32, i64, usize, Reverse<i64>) {
    let highest = victims.first().map_or(i32::MIN, |p| p.priority);
    // kube offsets each priority by MaxInt32+1 so that the sum also counts the victims.
    let sum: i64 = victims
        .iter()
        .map(|p| i64::from(p.priority) + i64::from(i32::MAX) + 1)
        .sum();
    let earliest_of_highest = victims
        .iter()
        .filter(|p| p.priority == highest)
        .map(|p| p.start_time)
        .min()
        .unwrap_or(i64::MAX);
    (highest, sum, victims.len(), Reverse(earliest_of_highest))
}

/// Choose among `(node, victims)` candidates by kube-scheduler's order; ties go to the first.
pub fn pick(candidates: Vec<Candidate>) -> Option<Candidate> {
    candidates
        .into_iter()
        .enumerate()
        .min_by_key(|(i, c)| (rank(&c.victims), *i))
        .map(|(_, c)| c)
}

/// Preemption for a pod the filters refused everywhere: the node to nominate and its
/// victims; else why not, in kube-scheduler's words for the end of the FailedScheduling
/// message (`None` when the profile does not preempt).
pub fn preempt(
    pod: &Pod,
    snapshot: &Snapshot,
    profile: &Profile,
) -> Result<Candidate, Option<String>> {
    if !profile.preemption {
        return Err(None);
    }
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref())
        == Some("Never")
    {
        return Err(Some(
            "preemption: not eligible due to preemptionPolicy=Never.".into(),
        ));
    }
    if !eligible(pod, snapshot) {
        return Err(Some(
            "preemption: not eligible due to a terminating pod on the nominated node.".into(),
        ));
    }
    let cycle = Cycle::new(pod, snapshot, profile).map_err(|_| None)?;
    let mut candidates = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for info in snapshot.nodes() {
        let reason = match cycle.filter_with_nominated(info, snapshot) {
            Err(f) if f.resolvable => match victims_on_node(&cycle, info, snapshot) {
                Some(victims) => {
                    candidates.push(Candidate {
                        node: info.name.clone(),
                        victims,
                    });
                    continue;
                }
                None => NO_VICTIMS,
            },
            _ => NOT_HELPFUL,
        };
        *reasons.entry(reason.to_string()).or_insert(0) += 1;
    }
    pick(candidates).ok_or_else(|| {
        let message = unschedulable_message(snapshot.len(), &reasons);
        Some(format!("preemption: {message}"))
    })
}

/// A node where even removing every lower-priority pod would not make room.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// A node that failed for a reason removing pods cannot change.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn node(name: &str, cpu: &str) -> Arc<k8s_openapi::api::core::v1::Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "zone": name}},
                "spec": {},
                "status": {
                    "allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True"}]
                }
            }))
            .expect("node"),
        )
    }

    fn pod_with(uid: &str, cpu: &str, priority: i32, extra: Value) -> Pod {
        let mut p = json!({
            "metadata": {"name": uid, "namespace": "default", "uid": uid,
                "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": uid}},
            "spec": {"priority": priority, "containers": [{"name": "c",
                "resources": {"requests": {"cpu": cpu}}}]}
        });
        if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
            for (k, v) in extra {
                match (p.get_mut(&k), v) {
                    (Some(Value::Object(have)), Value::Object(add)) => have.extend(add),
                    (_, v) => {
                        p.insert(k, v);
                    }
                }
            }
        }
        serde_json::from_value(p).expect("pod")
    }

    fn pod(uid: &str, cpu: &str, priority: i32) -> Pod {
        pod_with(uid, cpu, priority, json!({}))
    }

    fn started(uid: &str, cpu: &str, priority: i32, at: &str) -> Pod {
        pod_with(uid, cpu, priority, json!({"status": {"startTime": at}}))
    }

    fn snapshot(nodes: &[(&str, &str)], pods: &[(Pod, &str)]) -> Snapshot {
        let mut s = Snapshot::default();
        for (n, cpu) in nodes {
            s.upsert_node(node(n, cpu));
        }
        for (p, n) in pods {
            s.add_pod(p, n);
        }
        s
    }

    fn names(c: &Candidate) -> Vec<&str> {
        c.victims.iter().map(|v| v.name.as_str()).collect()
    }

    fn run(pod: &Pod, s: &Snapshot) -> Option<(String, Vec<String>)> {
        preempt(pod, s, &Profile::default()).ok().map(|c| {
            let v = names(&c).into_iter().map(String::from).collect();
            (c.node, v)
        })
    }

    #[test]
    fn the_fewest_lowest_priority_pods_are_evicted_and_more_important_ones_reprieved() {
        // 3 cpu: low1 (1, prio 1), low2 (1, prio 2), mid (1, prio 5). The pod wants 2.
        let s = snapshot(
            &[("a", "3")],
            &[
                (pod("low1", "1", 1), "a"),
                (pod("low2", "1", 2), "a"),
                (pod("mid", "1", 5), "a"),
            ],
        );
        assert_eq!(
            run(&pod("p", "2", 10), &s),
            Some(("a".into(), vec!["low2".into(), "low1".into()]))
        );
        // Wanting 1: only the least important goes.
        assert_eq!(
            run(&pod("p", "1", 10), &s),
            Some(("a".into(), vec!["low1".into()]))
        );
    }

    #[test]
    fn equal_or_higher_priority_pods_are_never_victims() {
        let s = snapshot(
            &[("a", "2")],
            &[(pod("same", "1", 10), "a"), (pod("higher", "1", 20), "a")],
        );
        assert_eq!(run(&pod("p", "1", 10), &s), None);
        // Even with every lower pod gone it would not fit: no candidate.
        let s = snapshot(
            &[("a", "2")],
            &[(pod("low", "1", 1), "a"), (pod("higher", "1", 20), "a")],
        );
        assert_eq!(run(&pod("p", "2", 10), &s), None);
        assert_eq!(
            run(&pod("p", "1", 10), &s),
            Some(("a".into(), vec!["low".into()]))
        );
    }

    #[test]
    fn preemption_policy_never_and_disabled_profiles_do_not_preempt() {
        let s = snapshot(&[("a", "1")], &[(pod("low", "1", 1), "a")]);
        let never = pod_with("p", "1", 10, json!({"spec": {"preemptionPolicy": "Never"}}));
        assert_eq!(run(&never, &s), None);
        let off = Profile {
            preemption: false,
            ..Profile::default()
        };
        assert_eq!(preempt(&pod("p", "1", 10), &s, &off).err(), Some(None));
        assert_eq!(
            preempt(&never, &s, &Profile::default()).err(),
            Some(Some(
                "preemption: not eligible due to preemptionPolicy=Never.".into()
            ))
        );
        assert!(run(&pod("p", "1", 10), &s).is_some());
    }

    #[test]
    fn unresolvable_nodes_are_not_candidates() {
        // The low pod's node is cordoned: removing pods cannot help there.
        let mut s = snapshot(&[("b", "1")], &[(pod("low", "1", 1), "b")]);
        let cordoned: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
            "metadata": {"name": "b", "labels": {"kubernetes.io/hostname": "b"}},
            "spec": {"unschedulable": true},
            "status": {"allocatable": {"cpu": "1", "memory": "4Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .expect("node");
        s.upsert_node(Arc::new(cordoned));
        assert_eq!(run(&pod("p", "1", 10), &s), None);
    }

    #[test]
    fn a_nominated_pod_waits_for_its_terminating_victims() {
        let mut s = snapshot(&[("a", "1")], &[(pod("low", "1", 1), "a")]);
        let nominated = pod_with("p", "1", 10, json!({"status": {"nominatedNodeName": "a"}}));
        assert!(eligible(&nominated, &s));
        s.mark_preempted("low", true);
        assert!(!eligible(&nominated, &s), "a deletion asked for counts");
        s.mark_preempted("low", false);
        assert!(eligible(&nominated, &s));
        let terminating = pod_with(
            "low",
            "1",
            1,
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:01Z"}}),
        );
        s.add_pod(&terminating, "a");
        assert!(!eligible(&nominated, &s));
        assert_eq!(run(&nominated, &s), None);
        // Another pod may still preempt it.
        assert!(eligible(&pod("q", "1", 10), &s));
    }

    #[test]
    fn the_node_whose_most_important_victim_is_least_important_wins() {
        let s = snapshot(
            &[("a", "1"), ("b", "1")],
            &[(pod("a5", "1", 5), "a"), (pod("b3", "1", 3), "b")],
        );
        assert_eq!(
            run(&pod("p", "1", 10), &s),
            Some(("b".into(), vec!["b3".into()]))
        );
    }

    #[test]
    fn then_the_smallest_sum_of_priorities_then_the_fewest_victims() {
        // Both nodes' highest victim is 3; a's sum is 3+3, b's 3+1: b wins.
        let s = snapshot(
            &[("a", "2"), ("b", "2")],
            &[
                (pod("a1", "1", 3), "a"),
                (pod("a2", "1", 3), "a"),
                (pod("b1", "1", 3), "b"),
                (pod("b2", "1", 1), "b"),
            ],
        );
        assert_eq!(run(&pod("p", "2", 10), &s).map(|c| c.0), Some("b".into()));
        // a needs two victims of priority 0 (sum 2·(MaxInt32+1)), b one of priority 0 with
        // the same highest: fewer victims, smaller offset sum.
        let s = snapshot(
            &[("a", "2"), ("b", "2")],
            &[
                (pod("a1", "1", 0), "a"),
                (pod("a2", "1", 0), "a"),
                (pod("b1", "2", 0), "b"),
            ],
        );
        assert_eq!(
            run(&pod("p", "2", 10), &s),
            Some(("b".into(), vec!["b1".into()]))
        );
    }

    #[test]
    fn then_the_node_whose_important_victims_started_latest() {
        let s = snapshot(
            &[("a", "1"), ("b", "1")],
            &[
                (started("old", "1", 1, "2026-01-01T00:00:00Z"), "a"),
                (started("new", "1", 1, "2026-01-02T00:00:00Z"), "b"),
            ],
        );
        assert_eq!(
            run(&pod("p", "1", 10), &s),
            Some(("b".into(), vec!["new".into()]))
        );
    }

    #[test]
    fn a_node_freed_by_preemption_is_held_for_its_preemptor() {
        use crate::framework::{Decision, schedule};
        let mut s = snapshot(&[("a", "1"), ("b", "1")], &[(pod("busy", "1", 0), "b")]);
        let preemptor = pod_with(
            "pre",
            "1",
            10,
            json!({"status": {"nominatedNodeName": "a"}}),
        );
        s.nominate(&preemptor, "a");
        let place = |p: &Pod, s: &Snapshot| match schedule(p, s, &Profile::default(), 0) {
            Decision::Bind { node, .. } => Some(node),
            _ => None,
        };
        // A lower (or equal) priority pod may not take a's room; the preemptor itself may,
        // and so may a more important pod.
        assert_eq!(place(&pod("low", "1", 5), &s), None);
        assert_eq!(place(&pod("same", "1", 10), &s), None);
        assert_eq!(place(&preemptor, &s), Some("a".into()));
        assert_eq!(place(&pod("vip", "1", 20), &s), Some("a".into()));
        // Room beside the nominated pod is free to take.
        let mut roomy = snapshot(&[("a", "2")], &[]);
        roomy.nominate(&preemptor, "a");
        assert_eq!(place(&pod("low", "1", 5), &roomy), Some("a".into()));
        roomy.forget_nomination("pre");
        assert_eq!(place(&pod("low", "2", 5), &roomy), Some("a".into()));
    }

    #[test]
    fn without_a_candidate_the_message_says_why_per_node_in_kube_words() {
        let mut s = snapshot(
            &[("a", "1"), ("b", "1"), ("c", "1")],
            &[(pod("same-a", "1", 10), "a"), (pod("same-b", "1", 10), "b")],
        );
        let cordoned: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
            "metadata": {"name": "c"}, "spec": {"unschedulable": true},
            "status": {"allocatable": {"cpu": "1", "memory": "4Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .expect("node");
        s.upsert_node(Arc::new(cordoned));
        assert_eq!(
            preempt(&pod("p", "1", 10), &s, &Profile::default()).err(),
            Some(Some(
                "preemption: 0/3 nodes are available: 1 Preemption is not helpful for \
                 scheduling, 2 No preemption victims found for incoming pod."
                    .into()
            ))
        );
    }

    #[test]
    fn ties_go_to_the_first_candidate() {
        let c = |node: &str| Candidate {
            node: node.into(),
            victims: vec![Arc::new(PlacedPod::new(&pod(node, "1", 1)))],
        };
        assert_eq!(pick(vec![c("x"), c("y")]).map(|c| c.node), Some("x".into()));
        assert!(pick(vec![]).is_none());
    }

    #[test]
    fn evicting_a_pod_whose_anti_affinity_blocks_the_node_makes_room() {
        // "guard" repels app=p pods from its node; it is the victim though cpu is free.
        let guard = pod_with(
            "guard",
            "100m",
            1,
            json!({"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "p"}}, "topologyKey": "kubernetes.io/hostname"}]}}}}),
        );
        let s = snapshot(
            &[("a", "4")],
            &[(guard, "a"), (pod("bystander", "100m", 1), "a")],
        );
        assert_eq!(
            run(&pod("p", "100m", 10), &s),
            Some(("a".into(), vec!["guard".into()]))
        );
    }

    #[test]
    fn host_port_conflicts_are_resolved_by_the_holder_only() {
        let port = |uid: &str, prio: i32| {
            pod_with(
                uid,
                "100m",
                prio,
                json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}}),
            )
        };
        let s = snapshot(
            &[("a", "4")],
            &[(port("holder", 1), "a"), (pod("other", "100m", 1), "a")],
        );
        assert_eq!(
            run(&port("p", 10), &s),
            Some(("a".into(), vec!["holder".into()]))
        );
    }
}
