use super::*;

pub(crate) fn service(extra: Value) -> Service {
    let mut s = json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid", "labels": {"team": "a"}},
        "spec": {
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": 9091, "protocol": "TCP"}
            ]
        }
    });
    if let (Some(spec), Some(extra)) = (s["spec"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(s).expect("service")
}

/// A pod labelled app=web (unless `labels` says otherwise) with a container port named http.
pub(crate) fn pod(name: &str, ip: &str, ready: bool, extra: Value) -> Pod {
    let mut p = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": ip,
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    });
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            if let (Some(target), Some(fields)) = (p[k].as_object_mut(), v.as_object()) {
                for (f, x) in fields {
                    target.insert(f.clone(), x.clone());
                }
            }
        }
    }
    serde_json::from_value(p).expect("pod")
}

#[test]
fn ready_and_not_ready_pods_are_listed_with_named_ports_resolved() {
    let svc = service(json!({}));
    let a = pod("a", "10.0.0.2", true, json!({}));
    let b = pod("b", "10.0.0.1", false, json!({}));
    let other = pod(
        "o",
        "10.0.0.9",
        true,
        json!({"metadata": {"labels": {"app": "db"}}}),
    );
    let no_ip = pod("n", "", true, json!({}));
    let s = subsets(&svc, &[&a, &b, &other, &no_ip]);
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0]["addresses"][0]["ip"], "10.0.0.2");
    assert_eq!(s[0]["addresses"][0]["nodeName"], "n1");
    assert_eq!(s[0]["addresses"][0]["targetRef"]["name"], "a");
    assert_eq!(s[0]["addresses"][0]["targetRef"]["kind"], "Pod");
    assert_eq!(s[0]["notReadyAddresses"][0]["ip"], "10.0.0.1");
    assert_eq!(
        s[0]["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9091, "protocol": "TCP"}])
    );
}

#[test]
fn pods_resolving_ports_differently_get_their_own_subsets() {
    let svc = service(json!({}));
    let a = pod("a", "10.0.0.1", true, json!({}));
    // No port named http: only the numeric metrics port.
    let b = pod(
        "b",
        "10.0.0.2",
        true,
        json!({"spec": {"containers": [{"name": "c", "image": "i"}]}}),
    );
    let s = subsets(&svc, &[&a, &b]);
    assert_eq!(s.len(), 2, "{s:#?}");
    let ports: Vec<usize> = s
        .iter()
        .map(|x| x["ports"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(ports.contains(&1) && ports.contains(&2), "{ports:?}");
}

#[test]
fn finished_and_terminating_pods_are_not_endpoints_unless_published() {
    let svc = service(json!({}));
    let done = pod(
        "d",
        "10.0.0.1",
        false,
        json!({"spec": {"restartPolicy": "Never"}, "status": {"phase": "Failed"}}),
    );
    let deleting = pod(
        "t",
        "10.0.0.2",
        true,
        json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}),
    );
    assert!(subsets(&svc, &[&done, &deleting]).is_empty());
    let published = service(json!({"publishNotReadyAddresses": true}));
    let not_ready = pod("n", "10.0.0.3", false, json!({}));
    let s = subsets(&published, &[&not_ready, &deleting]);
    assert_eq!(
        s[0]["addresses"].as_array().map(Vec::len),
        Some(2),
        "{s:#?}"
    );
}

#[test]
fn a_hostname_is_published_for_pods_of_the_services_subdomain() {
    let svc = service(json!({"clusterIP": "None"}));
    let p = pod(
        "web-0",
        "10.0.0.1",
        true,
        json!({"spec": {"hostname": "web-0", "subdomain": "web"}}),
    );
    let s = subsets(&svc, &[&p]);
    assert_eq!(s[0]["addresses"][0]["hostname"], "web-0");
    let r = reconcile("default", "web", Some(&svc), None, &[&p]);
    let Some(Action::Create { object, .. }) = r.actions.first() else {
        panic!("{:?}", r.actions);
    };
    assert_eq!(object["metadata"]["labels"][HEADLESS_LABEL], "");
    assert_eq!(object["metadata"]["labels"]["team"], "a");
}

#[test]
fn endpoints_are_created_updated_only_on_change_and_deleted_with_the_service() {
    let svc = service(json!({}));
    let a = pod("a", "10.0.0.1", true, json!({}));
    let r = reconcile("default", "web", Some(&svc), None, &[&a]);
    let Some(Action::Create { object, .. }) = r.actions.first() else {
        panic!("{:?}", r.actions);
    };
    let mut stored: Endpoints = serde_json::from_value(object.clone()).expect("endpoints");
    stored.metadata.uid = Some("ep".into());
    assert!(
        reconcile("default", "web", Some(&svc), Some(&stored), &[&a])
            .actions
            .is_empty()
    );
    let b = pod("b", "10.0.0.2", true, json!({}));
    let r = reconcile("default", "web", Some(&svc), Some(&stored), &[&a, &b]);
    assert!(
        matches!(&r.actions[..], [Action::MergePatch { patch, .. }] if patch["subsets"][0]["addresses"].as_array().map(Vec::len) == Some(2))
    );
    let r = reconcile("default", "web", None, Some(&stored), &[&a]);
    assert!(matches!(&r.actions[..], [Action::Delete { name, .. }] if name == "web"));
}

#[test]
fn services_without_a_selector_and_leader_records_are_left_alone() {
    let mut svc = service(json!({}));
    if let Some(s) = svc.spec.as_mut() {
        s.selector = None;
    }
    let a = pod("a", "10.0.0.1", true, json!({}));
    let mine: Endpoints = serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [{"addresses": [{"ip": "192.168.1.1"}]}]})).expect("ep");
    assert!(
        reconcile("default", "web", Some(&svc), Some(&mine), &[&a])
            .actions
            .is_empty()
    );
    let leader: Endpoints = serde_json::from_value(json!({"metadata": {"name": "kube-scheduler", "namespace": "kube-system", "annotations": {LEADER_ANNOTATION: "{}"}}})).expect("ep");
    assert!(
        reconcile("kube-system", "kube-scheduler", None, Some(&leader), &[])
            .actions
            .is_empty()
    );
}
