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
        _ => None,
    }
}

fn message(d: &Decision) -> &str {
    match d {
        Decision::Unschedulable { message, .. } => message,
        _ => "",
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
fn the_explanation_lists_the_best_nodes_winner_first_with_their_nonzero_scores() {
    // Five nodes, each busier than the one before: LeastAllocated ranks them in order.
    let mut s = snapshot((0..5).map(|i| node(&format!("n{i}"), json!({}))).collect());
    for i in 1..5 {
        let busy = pod(
            json!({"metadata": {"uid": format!("busy-{i}")}, "spec": {"containers": [
            {"name": "c", "resources": {"requests": {"cpu": format!("{}m", i * 300), "memory": "64Mi"}}}]}}),
        );
        s.add_pod(&busy, &format!("n{i}"));
    }
    let profile = Profile::default();
    let Decision::Bind { node, explanation } = schedule(&pod(json!({})), &s, &profile, 0) else {
        panic!("not bound");
    };
    assert_eq!(node, "n0");
    assert_eq!((explanation.nodes, explanation.feasible), (5, 5));
    let order: Vec<&str> = explanation.top.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(order, ["n0", "n1", "n2"]);
    assert!(explanation.top.windows(2).all(|w| w[0].total >= w[1].total));
    for n in &explanation.top {
        assert!(n.scores.values().all(|v| *v != 0), "{n:?}");
        let weighted: i64 = n.scores.iter().map(|(k, v)| v * profile.weight(k)).sum();
        assert_eq!(weighted, n.total, "{n:?}");
        assert!(n.scores.contains_key("NodeResourcesFit"), "{n:?}");
    }
}

/// The filters read a node's unschedulable flag and taints from the snapshot's copy, which a
/// later version of the same Node replaces: cordoned or tainted after it was added, a node
/// stops taking pods; uncordoned and untainted, it takes them again.
#[test]
fn a_node_cordoned_or_tainted_later_is_seen_by_the_filters() {
    let mut s = snapshot(vec![node("a", json!({}))]);
    let p = pod(json!({}));
    assert_eq!(bound(&schedule(&p, &s, &Profile::default(), 0)), Some("a"));
    s.upsert_node(node("a", json!({"spec": {"unschedulable": true}})));
    assert_eq!(
        message(&schedule(&p, &s, &Profile::default(), 0)),
        "0/1 nodes are available: 1 node(s) were unschedulable."
    );
    s.upsert_node(node(
        "a",
        json!({"spec": {"taints": [{"key": "k", "value": "v", "effect": "NoExecute"}]}}),
    ));
    assert_eq!(
        message(&schedule(&p, &s, &Profile::default(), 0)),
        "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}."
    );
    // PreferNoSchedule taints only score: a node without one wins.
    s.upsert_node(node(
        "a",
        json!({"spec": {"taints": [{"key": "k", "effect": "PreferNoSchedule"}]}}),
    ));
    s.upsert_node(node("b", json!({})));
    assert_eq!(bound(&schedule(&p, &s, &Profile::default(), 0)), Some("b"));
    s.upsert_node(node("a", json!({})));
    s.upsert_node(node("b", json!({"spec": {"unschedulable": true}})));
    assert_eq!(bound(&schedule(&p, &s, &Profile::default(), 1)), Some("a"));
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

fn labelled(uid: &str, labels: Value) -> Pod {
    pod(json!({"metadata": {"uid": uid, "name": uid, "labels": labels}}))
}

fn with_spec(uid: &str, labels: Value, spec: Value) -> Pod {
    pod(json!({"metadata": {"uid": uid, "name": uid, "labels": labels}, "spec": spec}))
}

fn invalid(d: &Decision) -> &str {
    match d {
        Decision::Invalid { message } => message,
        _ => "",
    }
}

fn anti_affinity(app: &str, key: &str) -> Value {
    json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]}}})
}

fn zoned(name: &str, zone: &str) -> Arc<k8s_openapi::api::core::v1::Node> {
    node(name, json!({"metadata": {"labels": {"zone": zone}}}))
}

#[test]
fn required_anti_affinity_keeps_pods_of_a_kind_apart() {
    let mut s = snapshot(vec![node("a", json!({})), node("b", json!({}))]);
    s.add_pod(&labelled("web-1", json!({"app": "web"})), "a");
    let p = with_spec(
        "web-2",
        json!({"app": "web"}),
        anti_affinity("web", "kubernetes.io/hostname"),
    );
    for start in 0..2 {
        assert_eq!(
            bound(&schedule(&p, &s, &Profile::default(), start)),
            Some("b")
        );
    }
    s.add_pod(&labelled("web-3", json!({"app": "web"})), "b");
    assert_eq!(
        message(&schedule(&p, &s, &Profile::default(), 0)),
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
    );
}

#[test]
fn placed_pods_anti_affinity_keeps_the_incoming_pod_away() {
    let mut s = snapshot(vec![
        zoned("a1", "east"),
        zoned("a2", "east"),
        zoned("b", "west"),
    ]);
    s.add_pod(
        &with_spec(
            "loner",
            json!({"app": "loner"}),
            anti_affinity("web", "zone"),
        ),
        "a1",
    );
    let web = labelled("web", json!({"app": "web"}));
    for start in 0..3 {
        assert_eq!(
            bound(&schedule(&web, &s, &Profile::default(), start)),
            Some("b")
        );
    }
    s.add_pod(
        &with_spec(
            "loner-2",
            json!({"app": "loner"}),
            anti_affinity("web", "zone"),
        ),
        "b",
    );
    assert_eq!(
        message(&schedule(&web, &s, &Profile::default(), 0)),
        "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."
    );
    // Pods the terms do not match are not kept away.
    let other = labelled("other", json!({"app": "other"}));
    assert!(bound(&schedule(&other, &s, &Profile::default(), 0)).is_some());
}

#[test]
fn required_affinity_follows_matching_pods_by_topology_and_lets_the_first_of_a_group_in() {
    let aff = |key: &str| {
        json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": key}]}}})
    };
    let mut s = snapshot(vec![
        zoned("a1", "east"),
        zoned("a2", "east"),
        zoned("b", "west"),
    ]);
    // No db anywhere, and the pod is not a db: nowhere.
    let cache = with_spec("cache", json!({"app": "cache"}), aff("zone"));
    assert_eq!(
        message(&schedule(&cache, &s, &Profile::default(), 0)),
        "0/3 nodes are available: 3 node(s) didn't match pod affinity rules."
    );
    // The first db matches its own term: it may go anywhere with the key.
    let first_db = with_spec("db-0", json!({"app": "db"}), aff("zone"));
    assert!(bound(&schedule(&first_db, &s, &Profile::default(), 0)).is_some());
    s.add_pod(&labelled("db-1", json!({"app": "db"})), "a2");
    for start in 0..3 {
        let node = schedule(&cache, &s, &Profile::default(), start);
        assert!(matches!(bound(&node), Some("a1" | "a2")), "{node:?}");
    }
    // A node without the topology key never matches.
    let mut s2 = snapshot(vec![node("bare", json!({}))]);
    s2.add_pod(&labelled("db-1", json!({"app": "db"})), "bare");
    assert_eq!(
        message(&schedule(&cache, &s2, &Profile::default(), 0)),
        "0/1 nodes are available: 1 node(s) didn't match pod affinity rules."
    );
}

#[test]
fn affinity_terms_see_their_own_namespace_unless_told_otherwise() {
    let mut s = snapshot(vec![node("a", json!({})), node("b", json!({}))]);
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": "prod", "labels": {"env": "prod"}}}))
            .expect("ns");
    s.upsert_namespace(&ns);
    s.add_pod(
        &pod(json!({"metadata": {"uid": "w", "name": "w", "namespace": "prod", "labels": {"app": "web"}}})),
        "a",
    );
    let term = |extra: Value| {
        let mut t = json!({"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"});
        merge(&mut t, extra);
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [t]}}})
    };
    // Own namespace (default): the prod pod does not count, both nodes fit.
    let feasible = |d: &Decision| match d {
        Decision::Bind { explanation, .. } => explanation.feasible,
        _ => 0,
    };
    let own = with_spec("x", json!({}), term(json!({})));
    assert_eq!(feasible(&schedule(&own, &s, &Profile::default(), 0)), 2);
    for extra in [
        json!({"namespaces": ["prod"]}),
        json!({"namespaceSelector": {}}),
        json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}),
        json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "prod"}}}),
    ] {
        let p = with_spec("x", json!({}), term(extra.clone()));
        let d = schedule(&p, &s, &Profile::default(), 0);
        assert_eq!((bound(&d), feasible(&d)), (Some("b"), 1), "{extra}");
    }
    let p = with_spec(
        "x",
        json!({}),
        term(json!({"namespaceSelector": {"matchLabels": {"env": "dev"}}})),
    );
    assert_eq!(feasible(&schedule(&p, &s, &Profile::default(), 0)), 2);
}

#[test]
fn preferred_pod_affinity_attracts_and_anti_affinity_repels_from_both_sides() {
    let mut s = snapshot(vec![node("a", json!({})), node("b", json!({}))]);
    s.add_pod(&labelled("db", json!({"app": "db"})), "b");
    let preferred = |kind: &str| {
        json!({"affinity": {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}}]}}})
    };
    // The db pod makes b fuller, so LeastAllocated alone would pick a.
    let near = with_spec("near", json!({}), preferred("podAffinity"));
    assert_eq!(
        bound(&schedule(&near, &s, &Profile::default(), 0)),
        Some("b")
    );
    let far = with_spec("far", json!({}), preferred("podAntiAffinity"));
    assert_eq!(
        bound(&schedule(&far, &s, &Profile::default(), 1)),
        Some("a")
    );
    // A placed pod's preferred anti-affinity keeps a matching newcomer away from it: put a
    // shy pod on the emptier node.
    let mut s = snapshot(vec![node("a", json!({})), node("b", json!({}))]);
    s.add_pod(&labelled("filler", json!({})), "b");
    let mut shy = with_spec(
        "shy",
        json!({}),
        json!({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}}]}}}),
    );
    if let Some(sp) = shy.spec.as_mut() {
        sp.containers.clear();
    }
    s.add_pod(&shy, "a");
    let db = labelled("db-2", json!({"app": "db"}));
    assert_eq!(bound(&schedule(&db, &s, &Profile::default(), 0)), Some("b"));
}

#[test]
fn malformed_affinity_terms_and_spread_constraints_are_reported_not_scheduled() {
    let s = snapshot(vec![node("a", json!({}))]);
    let bad_op = with_spec(
        "bad",
        json!({}),
        json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "Foo", "values": ["x"]}]}, "topologyKey": "zone"}]}}}),
    );
    assert_eq!(
        invalid(&schedule(&bad_op, &s, &Profile::default(), 0)),
        "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector: \"Foo\" is not a valid label selector operator"
    );
    let no_key = with_spec(
        "bad",
        json!({}),
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {}, "topologyKey": ""}]}}}),
    );
    assert!(
        invalid(&schedule(&no_key, &s, &Profile::default(), 0))
            .ends_with("topologyKey: Required value: can not be empty")
    );
    let bad_spread = with_spec(
        "bad",
        json!({}),
        json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Sometimes"}]}),
    );
    assert!(
        invalid(&schedule(&bad_spread, &s, &Profile::default(), 0))
            .contains("whenUnsatisfiable: Unsupported value: \"Sometimes\"")
    );
}

fn spread(extra: Value) -> Value {
    let mut c = json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "s"}}});
    merge(&mut c, extra);
    json!({"topologySpreadConstraints": [c]})
}

#[test]
fn topology_spread_keeps_domains_within_max_skew() {
    let mut s = snapshot(vec![
        zoned("a1", "a"),
        zoned("a2", "a"),
        zoned("a3", "a"),
        zoned("b1", "b"),
        node("nolabel", json!({})),
    ]);
    let mut zones = BTreeMap::<String, usize>::new();
    for i in 0..6 {
        let p = with_spec(&format!("s{i}"), json!({"app": "s"}), spread(json!({})));
        let d = schedule(&p, &s, &Profile::default(), i);
        let Some(node) = bound(&d) else {
            panic!("{d:?}")
        };
        let node = node.to_string();
        s.add_pod(&p, &node);
        *zones.entry(node[..1].to_string()).or_default() += 1;
    }
    assert_eq!(zones.get("a"), Some(&3));
    assert_eq!(zones.get("b"), Some(&3));
    // Zone b full? No: cap b's only node, then a pod must not go to a (skew would be 2).
    let mut s = snapshot(vec![
        zoned("a1", "a"),
        zoned("b1", "b"),
        node("nolabel", json!({})),
    ]);
    s.add_pod(&labelled("x", json!({"app": "s"})), "a1");
    let p = with_spec("s", json!({"app": "s"}), spread(json!({})));
    let mut cpu_hog = pod(json!({"metadata": {"uid": "hog"}}));
    if let Some(sp) = cpu_hog.spec.as_mut() {
        sp.containers[0].resources = serde_json::from_value(json!({"requests": {"cpu": "2"}})).ok();
    }
    s.add_pod(&cpu_hog, "b1");
    assert_eq!(
        message(&schedule(&p, &s, &Profile::default(), 0)),
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints, 1 node(s) didn't match pod topology spread constraints (missing required label)."
    );
}

#[test]
fn spread_counts_min_domains_node_affinity_policy_and_match_label_keys() {
    // minDomains 3 with 2 domains: the global minimum is 0, so each zone takes maxSkew.
    let mut s = snapshot(vec![zoned("a1", "a"), zoned("b1", "b")]);
    s.add_pod(&labelled("x", json!({"app": "s"})), "a1");
    s.add_pod(&labelled("y", json!({"app": "s"})), "b1");
    let p = with_spec("s", json!({"app": "s"}), spread(json!({"minDomains": 3})));
    assert_eq!(
        message(&schedule(&p, &s, &Profile::default(), 0)),
        "0/2 nodes are available: 2 node(s) didn't match pod topology spread constraints."
    );
    let plain = with_spec("s", json!({"app": "s"}), spread(json!({})));
    assert!(bound(&schedule(&plain, &s, &Profile::default(), 0)).is_some());

    // Nodes the pod's nodeSelector excludes do not count (nodeAffinityPolicy Honor), unless
    // the policy says Ignore.
    let mut s = snapshot(vec![
        node(
            "a1",
            json!({"metadata": {"labels": {"zone": "a", "disk": "ssd"}}}),
        ),
        node(
            "b1",
            json!({"metadata": {"labels": {"zone": "b", "disk": "ssd"}}}),
        ),
        node("c1", json!({"metadata": {"labels": {"zone": "c"}}})),
    ]);
    s.add_pod(&labelled("x", json!({"app": "s"})), "a1");
    s.add_pod(&labelled("y", json!({"app": "s"})), "b1");
    let mut honor = with_spec("s", json!({"app": "s"}), spread(json!({})));
    if let Some(sp) = honor.spec.as_mut() {
        sp.node_selector = Some(BTreeMap::from([("disk".to_string(), "ssd".to_string())]));
    }
    assert!(bound(&schedule(&honor, &s, &Profile::default(), 0)).is_some());
    let mut ignore = with_spec(
        "s",
        json!({"app": "s"}),
        spread(json!({"nodeAffinityPolicy": "Ignore"})),
    );
    ignore.spec = ignore.spec.map(|mut sp| {
        sp.node_selector = honor.spec.as_ref().and_then(|h| h.node_selector.clone());
        sp
    });
    assert_eq!(
        message(&schedule(&ignore, &s, &Profile::default(), 0)),
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) didn't match pod topology spread constraints."
    );

    // matchLabelKeys: only pods of the same revision count.
    let mut s = snapshot(vec![zoned("a1", "a"), zoned("b1", "b")]);
    s.add_pod(&labelled("old-1", json!({"app": "s", "rev": "1"})), "a1");
    s.add_pod(&labelled("old-2", json!({"app": "s", "rev": "1"})), "a1");
    let new = with_spec(
        "new",
        json!({"app": "s", "rev": "2"}),
        spread(json!({"matchLabelKeys": ["rev"]})),
    );
    for start in 0..2 {
        assert!(bound(&schedule(&new, &s, &Profile::default(), start)).is_some());
    }
    let old = with_spec(
        "old-3",
        json!({"app": "s", "rev": "1"}),
        spread(json!({"matchLabelKeys": ["rev"]})),
    );
    assert_eq!(
        bound(&schedule(&old, &s, &Profile::default(), 0)),
        Some("b1")
    );
}

#[test]
fn schedule_anyway_prefers_the_emptier_domain() {
    let mut s = snapshot(vec![zoned("a1", "a"), zoned("a2", "a"), zoned("b1", "b")]);
    s.add_pod(&labelled("x", json!({"app": "s"})), "a1");
    let mut p = with_spec(
        "s",
        json!({"app": "s"}),
        spread(json!({"whenUnsatisfiable": "ScheduleAnyway"})),
    );
    for start in 0..3 {
        assert_eq!(
            bound(&schedule(&p, &s, &Profile::default(), start)),
            Some("b1")
        );
    }
    s.add_pod(&labelled("y", json!({"app": "s"})), "b1");
    s.add_pod(&labelled("z", json!({"app": "s"})), "b1");
    p.metadata.uid = Some("s2".into());
    assert!(matches!(
        bound(&schedule(&p, &s, &Profile::default(), 0)),
        Some("a1" | "a2")
    ));
}

#[test]
fn extended_resources_are_fitted_and_named_when_short() {
    let s = snapshot(vec![
        node(
            "gpu",
            json!({"status": {"allocatable": {"example.com/gpu": "2"}}}),
        ),
        node("plain", json!({})),
    ]);
    let want = |n: &str| {
        pod(
            json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"example.com/gpu": n}}}]}}),
        )
    };
    assert_eq!(
        bound(&schedule(&want("2"), &s, &Profile::default(), 1)),
        Some("gpu")
    );
    assert_eq!(
        message(&schedule(&want("3"), &s, &Profile::default(), 0)),
        "0/2 nodes are available: 2 Insufficient example.com/gpu."
    );
}

#[test]
fn nodes_holding_the_image_are_preferred() {
    let s = snapshot(vec![
        node("bare", json!({})),
        node(
            "warm",
            json!({"status": {"images": [{"names": ["registry.example/big:1"], "sizeBytes": 900u64 << 20}]}}),
        ),
    ]);
    let p =
        pod(json!({"spec": {"containers": [{"name": "c", "image": "registry.example/big:1"}]}}));
    for start in 0..2 {
        let d = schedule(&p, &s, &Profile::default(), start);
        assert_eq!(bound(&d), Some("warm"), "{d:?}");
    }
}

#[test]
fn resource_fit_scores_are_kube_schedulers_integers() {
    use ScoringStrategy::{LeastAllocated, MostAllocated};
    // 3 of 4 CPUs and 5 of 10 GB requested: cpu 25 / 75, memory 50 / 50, averaged down.
    let (req, alloc) = ([3000, 5_000_000_000], [4000, 10_000_000_000]);
    assert_eq!(resource_fit_score(LeastAllocated, req, alloc), 37);
    assert_eq!(resource_fit_score(MostAllocated, req, alloc), 62);
    // Over capacity: nothing free for LeastAllocated, capped at full for MostAllocated.
    assert_eq!(
        resource_fit_score(LeastAllocated, [5000, 0], [4000, 10]),
        50
    );
    assert_eq!(resource_fit_score(MostAllocated, [5000, 0], [4000, 10]), 50);
    // A resource with nothing allocatable is left out; none at all scores 0.
    assert_eq!(resource_fit_score(LeastAllocated, [1000, 7], [4000, 0]), 75);
    assert_eq!(resource_fit_score(MostAllocated, [1000, 7], [0, 0]), 0);
    // Empty node, idle pod: all free.
    assert_eq!(resource_fit_score(LeastAllocated, [0, 0], [4000, 10]), 100);
}

#[test]
fn balanced_allocation_is_one_minus_half_the_difference_of_the_shares() {
    // Shares 0.75 and 0.5: deviation 0.125, 87.5 truncated.
    assert_eq!(
        balanced_allocation_score([3000, 5_000_000_000], [4000, 10_000_000_000]),
        87
    );
    // Equal shares: perfectly balanced.
    assert_eq!(balanced_allocation_score([2000, 5], [4000, 10]), 100);
    // Shares capped at 1: 1 and 0 give a deviation of 0.5.
    assert_eq!(balanced_allocation_score([9000, 0], [4000, 10]), 50);
    // One resource with nothing allocatable: a single share has no deviation.
    assert_eq!(balanced_allocation_score([3000, 5], [4000, 0]), 100);
}

#[test]
fn the_best_few_are_kept_highest_first_and_the_first_found_of_a_tie() {
    let mut best = Vec::new();
    for node in [(0, 5), (1, 9), (2, 5), (3, 7), (4, 9), (5, 1), (6, 8)] {
        keep_best(&mut best, node);
    }
    // 9 (found 1st at 1, then at 4), 8: of equal totals the one found first goes first.
    assert_eq!(best, vec![(1, 9), (4, 9), (6, 8)]);
    // The same as sorting every node by (total desc, found asc) and taking the first few.
    let all: Vec<(usize, i64)> = (0..50).map(|i| (i, (i as i64 * 37) % 11)).collect();
    let mut kept = Vec::new();
    for n in &all {
        keep_best(&mut kept, *n);
    }
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    sorted.truncate(EXPLAINED_NODES);
    assert_eq!(kept, sorted);
}

#[test]
fn the_search_starts_at_start_and_goes_round() {
    // With nodes equal, the first found wins: the one at `start`, wrapping past the last.
    let s = snapshot((0..4).map(|i| node(&format!("n{i}"), json!({}))).collect());
    let nodes: Vec<&str> = s.nodes().iter().map(|n| n.name.as_str()).collect();
    for start in 0..9 {
        let d = schedule(&pod(json!({})), &s, &Profile::default(), start);
        assert_eq!(bound(&d), Some(nodes[start % 4]), "start {start}");
    }
}
