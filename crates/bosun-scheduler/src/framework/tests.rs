use super::*;
use serde_json::{Value, json};
use std::sync::Arc;

fn node(name: &str, extra: Value) -> Arc<k8s_openapi::api::core::v1::Node> {
    let mut n = json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    });
    merge(&mut n, extra);
    Arc::new(serde_json::from_value(n).expect("node"))
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn pod(extra: Value) -> Pod {
    let mut p = json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "p-uid"},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]}
    });
    merge(&mut p, extra);
    serde_json::from_value(p).expect("pod")
}

fn snapshot(nodes: Vec<Arc<k8s_openapi::api::core::v1::Node>>) -> Snapshot {
    let mut s = Snapshot::default();
    for n in nodes {
        s.upsert_node(n);
    }
    s
}

fn bound(d: &Decision) -> Option<&str> {
    match d {
        Decision::Bind { node, .. } => Some(node),
        Decision::Unschedulable { .. } => None,
    }
}

fn message(d: &Decision) -> &str {
    match d {
        Decision::Unschedulable { message, .. } => message,
        Decision::Bind { .. } => "",
    }
}

#[test]
fn the_emptiest_node_wins_with_least_allocated_and_the_fullest_with_most_allocated() {
    let mut s = snapshot(vec![node("a", json!({})), node("b", json!({}))]);
    let busy = pod(
        json!({"metadata": {"uid": "busy"}, "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}),
    );
    s.add_pod(&busy, "a");
    let profile = Profile::default();
    assert_eq!(
        bound(&schedule(&pod(json!({})), &s, &profile, 0)),
        Some("b")
    );
    let packing = Profile {
        strategy: ScoringStrategy::MostAllocated,
        ..Profile::default()
    };
    assert_eq!(
        bound(&schedule(&pod(json!({})), &s, &packing, 0)),
        Some("a")
    );
}

#[test]
fn an_unschedulable_pod_is_told_why_in_kubernetes_words() {
    let s = snapshot(vec![
        node(
            "small-1",
            json!({"status": {"allocatable": {"cpu": "100m"}}}),
        ),
        node(
            "small-2",
            json!({"status": {"allocatable": {"cpu": "100m"}}}),
        ),
        node(
            "gpu",
            json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
        ),
        node("cordoned", json!({"spec": {"unschedulable": true}})),
        node(
            "down",
            json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
        ),
    ]);
    let d = schedule(&pod(json!({})), &s, &Profile::default(), 0);
    assert_eq!(
        message(&d),
        "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable, 2 Insufficient cpu."
    );
    assert_eq!(
        unschedulable_message(0, &BTreeMap::new()),
        "0/0 nodes are available: no nodes available to schedule pods."
    );
}

#[test]
fn tolerations_let_pods_onto_tainted_nodes() {
    let s = snapshot(vec![node(
        "gpu",
        json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
    )]);
    let equal = pod(
        json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}}),
    );
    assert_eq!(
        bound(&schedule(&equal, &s, &Profile::default(), 0)),
        Some("gpu")
    );
    let exists = pod(json!({"spec": {"tolerations": [{"operator": "Exists"}]}}));
    assert_eq!(
        bound(&schedule(&exists, &s, &Profile::default(), 0)),
        Some("gpu")
    );
    let wrong = pod(json!({"spec": {"tolerations": [{"key": "dedicated", "value": "tpu"}]}}));
    assert_eq!(bound(&schedule(&wrong, &s, &Profile::default(), 0)), None);
}

#[test]
fn node_selectors_and_affinity_choose_nodes_by_label_and_name() {
    let s = snapshot(vec![
        node(
            "a",
            json!({"metadata": {"labels": {"zone": "east", "gen": "3"}}}),
        ),
        node(
            "b",
            json!({"metadata": {"labels": {"zone": "west", "gen": "5"}}}),
        ),
    ]);
    let selector = pod(json!({"spec": {"nodeSelector": {"zone": "west"}}}));
    assert_eq!(
        bound(&schedule(&selector, &s, &Profile::default(), 0)),
        Some("b")
    );
    let gt = pod(
        json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "gen", "operator": "Lt", "values": ["4"]}]}]}}}}}),
    );
    assert_eq!(bound(&schedule(&gt, &s, &Profile::default(), 1)), Some("a"));
    let by_name = pod(
        json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}}}),
    );
    assert_eq!(
        bound(&schedule(&by_name, &s, &Profile::default(), 0)),
        Some("b")
    );
    let preferred = pod(
        json!({"spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["east"]}]}}]}}}}),
    );
    assert_eq!(
        bound(&schedule(&preferred, &s, &Profile::default(), 1)),
        Some("a")
    );
    let none = pod(json!({"spec": {"nodeSelector": {"zone": "north"}}}));
    assert_eq!(
        message(&schedule(&none, &s, &Profile::default(), 0)),
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    );
}

#[test]
fn host_ports_and_pod_counts_are_limits() {
    let mut s = snapshot(vec![
        node("a", json!({"status": {"allocatable": {"pods": "1"}}})),
        node("b", json!({})),
    ]);
    let web = |uid: &str| {
        pod(
            json!({"metadata": {"uid": uid}, "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}}),
        )
    };
    s.add_pod(&web("w1"), "b");
    let d = schedule(&web("w2"), &s, &Profile::default(), 0);
    assert_eq!(bound(&d), Some("a"));
    s.add_pod(&web("w2"), "a");
    // The first failing filter names a node's reason: ports are checked before resources.
    assert_eq!(
        message(&schedule(&web("w3"), &s, &Profile::default(), 0)),
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."
    );
    let plain = pod(
        json!({"metadata": {"uid": "plain"}, "spec": {"nodeSelector": {"kubernetes.io/hostname": "a"}}}),
    );
    assert_eq!(
        message(&schedule(&plain, &s, &Profile::default(), 0)),
        "0/2 nodes are available: 1 Too many pods, 1 node(s) didn't match Pod's node affinity/selector."
    );
}

#[test]
fn a_requested_node_name_is_honoured() {
    let s = snapshot(vec![node("a", json!({})), node("b", json!({}))]);
    let p = pod(json!({"spec": {"nodeName": "b"}}));
    assert_eq!(bound(&schedule(&p, &s, &Profile::default(), 0)), Some("b"));
    let missing = pod(json!({"spec": {"nodeName": "zzz"}}));
    assert!(
        message(&schedule(&missing, &s, &Profile::default(), 0))
            .contains("2 node(s) didn't match the requested node name")
    );
}

#[test]
fn large_clusters_are_sampled_as_kube_scheduler_does() {
    assert_eq!(feasible_nodes_to_find(50, 0), 50);
    assert_eq!(feasible_nodes_to_find(1000, 0), 420);
    assert_eq!(feasible_nodes_to_find(5000, 0), 500);
    assert_eq!(feasible_nodes_to_find(100_000, 0), 5000);
    assert_eq!(feasible_nodes_to_find(1000, 10), 100);
}

#[test]
fn least_allocated_spreads_identical_pods_evenly() {
    let mut s = snapshot((0..10).map(|i| node(&format!("n{i}"), json!({}))).collect());
    for i in 0..30 {
        let p = pod(json!({"metadata": {"uid": format!("u{i}")}}));
        let Decision::Bind { node, .. } = schedule(&p, &s, &Profile::default(), i) else {
            panic!("fits")
        };
        s.add_pod(&p, &node);
    }
    for n in s.nodes() {
        assert_eq!(n.requested.pods, 3, "{} has {}", n.name, n.requested.pods);
    }
}
