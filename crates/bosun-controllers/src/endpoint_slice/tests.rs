use super::*;
use crate::endpoints::tests::{pod, service};

fn store(r: &Reconcile, world: &mut Vec<EndpointSlice>) {
    for a in &r.actions {
        match a {
            Action::Create { object, .. } => {
                let mut s: EndpointSlice = serde_json::from_value(object.clone()).expect("slice");
                s.metadata.uid = s.metadata.name.clone();
                world.push(s);
            }
            Action::MergePatch { name, patch, .. } => {
                let s = world
                    .iter_mut()
                    .find(|s| s.metadata.name.as_deref() == Some(name))
                    .expect("patched slice");
                let mut v = serde_json::to_value(&*s).expect("json");
                v["endpoints"] = patch["endpoints"].clone();
                v["ports"] = patch["ports"].clone();
                *s = serde_json::from_value(v).expect("slice");
            }
            Action::Delete { name, .. } => {
                world.retain(|s| s.metadata.name.as_deref() != Some(name));
            }
            _ => {}
        }
    }
}

#[test]
fn a_slice_lists_the_pods_with_conditions_labels_and_owner() {
    let svc = service(json!({}));
    let a = pod("a", "10.0.0.1", true, json!({}));
    let b = pod("b", "10.0.0.2", false, json!({}));
    let t = pod(
        "t",
        "10.0.0.3",
        true,
        json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}),
    );
    let mut world = Vec::new();
    let r = reconcile("default", "web", Some(&svc), &[], &[&a, &b, &t]);
    store(&r, &mut world);
    assert_eq!(world.len(), 1);
    let s = &world[0];
    let labels = s.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(SERVICE_NAME_LABEL).map(String::as_str),
        Some("web")
    );
    assert_eq!(
        labels.get(MANAGED_BY_LABEL).map(String::as_str),
        Some(MANAGED_BY)
    );
    assert!(controller_ref(&s.metadata).is_some_and(|o| o.uid == "svc-uid" && o.kind == "Service"));
    assert_eq!(s.address_type, "IPv4");
    type Conditions = (String, Option<bool>, Option<bool>, Option<bool>);
    let conds: Vec<Conditions> = s
        .endpoints
        .iter()
        .map(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            (e.addresses[0].clone(), c.ready, c.serving, c.terminating)
        })
        .collect();
    assert_eq!(
        conds,
        vec![
            ("10.0.0.1".into(), Some(true), Some(true), Some(false)),
            ("10.0.0.2".into(), Some(false), Some(false), Some(false)),
            ("10.0.0.3".into(), Some(false), Some(true), Some(true)),
        ]
    );
    assert_eq!(s.endpoints[0].node_name.as_deref(), Some("n1"));
    assert_eq!(
        s.endpoints[0]
            .target_ref
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("a")
    );
    let ports: Vec<Option<i32>> = s.ports.iter().flatten().map(|p| p.port).collect();
    assert_eq!(ports, vec![Some(8080), Some(9091)]);
    // Nothing changed: nothing to do.
    let refs: Vec<&EndpointSlice> = world.iter().collect();
    assert!(
        reconcile("default", "web", Some(&svc), &refs, &[&a, &b, &t])
            .actions
            .is_empty()
    );
}

#[test]
fn more_than_a_hundred_endpoints_spread_over_slices_and_shrink_back() {
    let svc = service(json!({}));
    let pods: Vec<Pod> = (0..250)
        .map(|i| {
            pod(
                &format!("p{i}"),
                &format!("10.1.{}.{}", i / 200, i % 200),
                true,
                json!({}),
            )
        })
        .collect();
    let refs: Vec<&Pod> = pods.iter().collect();
    let mut world = Vec::new();
    store(
        &reconcile("default", "web", Some(&svc), &[], &refs),
        &mut world,
    );
    let mut sizes: Vec<usize> = world.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![50, 100, 100]);
    let slices: Vec<&EndpointSlice> = world.iter().collect();
    let r = reconcile("default", "web", Some(&svc), &slices, &refs[..10]);
    store(&r, &mut world);
    let sizes: Vec<usize> = world.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(sizes, vec![10]);
}

#[test]
fn a_service_without_pods_keeps_one_empty_slice_and_its_slices_go_with_it() {
    let svc = service(json!({}));
    let mut world = Vec::new();
    store(
        &reconcile("default", "web", Some(&svc), &[], &[]),
        &mut world,
    );
    assert_eq!(world.len(), 1);
    assert!(world[0].endpoints.is_empty());
    let foreign: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "web-manual", "namespace": "default", "labels": {SERVICE_NAME_LABEL: "web"}},
        "addressType": "IPv4", "endpoints": []
    }))
    .expect("slice");
    world.push(foreign);
    let refs: Vec<&EndpointSlice> = world.iter().collect();
    let r = reconcile("default", "web", None, &refs, &[]);
    let deleted: Vec<&String> = r
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete { name, .. } => Some(name),
            _ => None,
        })
        .collect();
    assert_eq!(deleted.len(), 1, "only the managed slice goes: {deleted:?}");
    assert_ne!(deleted[0], "web-manual");
}
