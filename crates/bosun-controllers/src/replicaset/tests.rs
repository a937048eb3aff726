use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).expect("time")
}

fn rs(replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": "web-abc", "namespace": "default", "uid": "rs-uid", "generation": 2},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        }
    }))
    .expect("rs")
}

fn pod(name: &str, owner: Option<&str>, ready: bool, node: Option<&str>, created: i64) -> Pod {
    let mut p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("{name}-uid"),
                     "labels": {"app": "web"}, "creationTimestamp": t(created).to_string()},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": if node.is_some() { "Running" } else { "Pending" },
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": t(created).to_string()}]}
    }))
    .expect("pod");
    if let Some(n) = node
        && let Some(s) = p.spec.as_mut()
    {
        s.node_name = Some(n.into());
    }
    if let Some(uid) = owner {
        p.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web-abc".into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
    }
    p
}

fn creates(r: &Reconcile) -> usize {
    r.actions
        .iter()
        .filter(|a| matches!(a, Action::Create { .. }))
        .count()
}

fn deleted(r: &Reconcile) -> Vec<String> {
    r.actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn missing_pods_are_created_from_the_template_with_the_owner_reference() {
    let r = reconcile(&rs(3), &[], t(0));
    assert_eq!(creates(&r), 3);
    let Some(Action::Create {
        object, namespace, ..
    }) = r.actions.first()
    else {
        panic!("create first")
    };
    assert_eq!(namespace.as_deref(), Some("default"));
    assert_eq!(object["metadata"]["labels"]["app"], "web");
    assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "rs-uid");
    assert_eq!(object["metadata"]["ownerReferences"][0]["controller"], true);
    assert!(
        object["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("web-abc-"))
    );
    assert!(
        r.actions
            .iter()
            .any(|a| matches!(a, Action::Event { reason, .. } if reason == "SuccessfulCreate"))
    );
}

/// The manager sends a run of consecutive pod creates (or deletes) concurrently; Events
/// between them would make it send them one at a time.
#[test]
fn pod_creates_and_deletes_come_in_one_run_before_their_events() {
    let first_event = |r: &Reconcile| {
        r.actions
            .iter()
            .position(|a| matches!(a, Action::Event { .. }))
            .unwrap_or(r.actions.len())
    };
    let r = reconcile(&rs(5), &[], t(0));
    assert_eq!(creates(&r), 5);
    assert!(
        r.actions[..5]
            .iter()
            .all(|a| matches!(a, Action::Create { .. }))
    );
    assert_eq!(first_event(&r), 5);
    let pods = [
        pod("a", Some("rs-uid"), true, Some("n1"), 0),
        pod("b", Some("rs-uid"), true, Some("n1"), 1),
        pod("c", Some("rs-uid"), true, Some("n1"), 2),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let r = reconcile(&rs(0), &refs, t(100));
    assert!(
        r.actions[..3]
            .iter()
            .all(|a| matches!(a, Action::Delete { .. }))
    );
    assert_eq!(first_event(&r), 3);
}

#[test]
fn surplus_pods_go_least_valuable_first() {
    let pods = [
        pod("running-old", Some("rs-uid"), true, Some("n1"), 0),
        pod("unscheduled", Some("rs-uid"), false, None, 5),
        pod("running-new", Some("rs-uid"), true, Some("n1"), 10),
        pod("not-ready", Some("rs-uid"), false, Some("n1"), 1),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let r = reconcile(&rs(1), &refs, t(100));
    assert_eq!(deleted(&r), vec!["unscheduled", "not-ready", "running-new"]);
}

#[test]
fn orphans_are_adopted_and_non_matching_pods_released() {
    let mut stray = pod("stray", Some("rs-uid"), true, Some("n1"), 0);
    stray.metadata.labels = Some([("app".to_string(), "other".to_string())].into());
    let orphan = pod("orphan", None, true, Some("n1"), 0);
    let foreign = pod("foreign", Some("someone-else"), true, Some("n1"), 0);
    let r = reconcile(&rs(1), &[&stray, &orphan, &foreign], t(10));
    let patched: Vec<(&str, &Value)> = r
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::MergePatch { name, patch, .. } => Some((name.as_str(), patch)),
            _ => None,
        })
        .collect();
    assert_eq!(patched.len(), 2);
    assert_eq!(patched[0].0, "stray");
    assert_eq!(patched[0].1["metadata"]["ownerReferences"], json!([]));
    assert_eq!(patched[1].0, "orphan");
    assert_eq!(
        patched[1].1["metadata"]["ownerReferences"][0]["uid"],
        "rs-uid"
    );
    assert_eq!(creates(&r), 0, "the adopted orphan counts");
}

#[test]
fn status_counts_ready_and_available_and_waits_for_min_ready_seconds() {
    let mut set = rs(2);
    if let Some(s) = set.spec.as_mut() {
        s.min_ready_seconds = Some(30);
    }
    let pods = [
        pod("a", Some("rs-uid"), true, Some("n1"), 0),
        pod("b", Some("rs-uid"), true, Some("n1"), 20),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let r = reconcile(&set, &refs, t(40));
    let status = r
        .actions
        .iter()
        .find_map(|a| match a {
            Action::PatchStatus { status, .. } => Some(status.clone()),
            _ => None,
        })
        .expect("status");
    assert_eq!(status["replicas"], 2);
    assert_eq!(status["readyReplicas"], 2);
    assert_eq!(status["availableReplicas"], 1);
    assert_eq!(status["observedGeneration"], 2);
    let wait = r.requeue_after.expect("requeue");
    assert!(
        wait >= Duration::from_secs(10) && wait < Duration::from_secs(11),
        "{wait:?}"
    );
}

#[test]
fn a_replica_set_being_deleted_creates_nothing() {
    let mut set = rs(3);
    set.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(0)));
    assert_eq!(creates(&reconcile(&set, &[], t(1))), 0);
}
