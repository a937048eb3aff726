use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).expect("time")
}

fn set(replicas: i32, image: &str, extra: Value) -> StatefulSet {
    let mut s = json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "sts-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "serviceName": "web-svc",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "podManagementPolicy": "OrderedReady",
            "revisionHistoryLimit": 10
        }
    });
    if let (Some(spec), Some(extra)) = (s["spec"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(s).expect("statefulset")
}

/// The API server and kubelets, simplified: created pods appear Pending; `run` makes them
/// Running and Ready; deleted pods go at once.
#[derive(Default)]
struct World {
    pods: Vec<Pod>,
    revisions: Vec<ControllerRevision>,
    next_uid: u32,
}

impl World {
    fn step(&mut self, s: &mut StatefulSet, now: Timestamp) -> Reconcile {
        let pods: Vec<&Pod> = self.pods.iter().collect();
        let revs: Vec<&ControllerRevision> = self.revisions.iter().collect();
        let r = reconcile(s, &pods, &revs, now);
        for a in &r.actions {
            self.next_uid += 1;
            let uid = format!("u{}", self.next_uid);
            match a {
                Action::Create { target, object, .. } if *target == Target::PODS => {
                    let mut p: Pod = serde_json::from_value(object.clone()).expect("pod");
                    p.metadata.uid = Some(uid);
                    p.metadata.creation_timestamp = Some(Time(now));
                    p.status = serde_json::from_value(json!({"phase": "Pending"})).ok();
                    assert!(
                        !self.pods.iter().any(|q| q.metadata.name == p.metadata.name),
                        "created {:?} twice",
                        p.metadata.name
                    );
                    self.pods.push(p);
                }
                Action::Create { target, object, .. } if *target == Target::CONTROLLERREVISIONS => {
                    let mut r: ControllerRevision =
                        serde_json::from_value(object.clone()).expect("revision");
                    r.metadata.uid = Some(uid);
                    self.revisions.push(r);
                }
                Action::MergePatch {
                    target,
                    name,
                    patch,
                    ..
                } if *target == Target::CONTROLLERREVISIONS => {
                    let r = self
                        .revisions
                        .iter_mut()
                        .find(|r| r.metadata.name.as_deref() == Some(name))
                        .expect("revision");
                    r.revision = patch["revision"].as_i64().expect("number");
                }
                Action::Delete { target, name, .. } if *target == Target::PODS => {
                    self.pods
                        .retain(|p| p.metadata.name.as_deref() != Some(name));
                }
                Action::Delete { target, name, .. } if *target == Target::CONTROLLERREVISIONS => {
                    self.revisions
                        .retain(|p| p.metadata.name.as_deref() != Some(name));
                }
                Action::PatchStatus { status, .. } => {
                    let mut old = serde_json::to_value(&s.status).expect("status");
                    if old.is_null() {
                        old = json!({});
                    }
                    for (k, v) in status.as_object().cloned().unwrap_or_default() {
                        old[k] = v;
                    }
                    s.status = serde_json::from_value(old).expect("status");
                }
                _ => {}
            }
        }
        r
    }

    fn run(&mut self, name: &str, now: Timestamp) {
        let p = self
            .pods
            .iter_mut()
            .find(|p| p.metadata.name.as_deref() == Some(name))
            .expect("pod");
        p.status = serde_json::from_value(json!({
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": Time(now)}]
        }))
        .ok();
    }

    fn run_all(&mut self, now: Timestamp) {
        let names: Vec<String> = self
            .pods
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        for n in names {
            self.run(&n, now);
        }
    }

    fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self
            .pods
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        n.sort();
        n
    }

    fn revision_of(&self, pod: &str) -> String {
        self.pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pod))
            .and_then(|p| super::revision_of(p).map(str::to_string))
            .unwrap_or_default()
    }
}

fn created(r: &Reconcile) -> Vec<String> {
    r.actions
        .iter()
        .filter_map(|a| match a {
            Action::Create { target, object, .. } if *target == Target::PODS => {
                object["metadata"]["name"].as_str().map(str::to_string)
            }
            _ => None,
        })
        .collect()
}

fn deleted(r: &Reconcile) -> Vec<String> {
    r.actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete { target, name, .. } if *target == Target::PODS => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn ordinals_parse_only_from_the_sets_own_names() {
    assert_eq!(ordinal("web", "web-0"), Some(0));
    assert_eq!(ordinal("web", "web-12"), Some(12));
    assert_eq!(ordinal("web", "web-01"), None);
    assert_eq!(ordinal("web", "web-x"), None);
    assert_eq!(ordinal("web", "webx-1"), None);
    assert_eq!(ordinal("web", "web-"), None);
    assert_eq!(ordinal("web-a", "web-a-3"), Some(3));
}

#[test]
fn ordered_ready_creates_one_pod_at_a_time_after_its_predecessor_is_ready() {
    let mut s = set(3, "v1", json!({}));
    let mut w = World::default();
    assert_eq!(created(&w.step(&mut s, t(0))), vec!["web-0"]);
    // web-0 pending: nothing new.
    assert!(created(&w.step(&mut s, t(1))).is_empty());
    w.run("web-0", t(1));
    assert_eq!(created(&w.step(&mut s, t(2))), vec!["web-1"]);
    assert!(created(&w.step(&mut s, t(3))).is_empty());
    w.run("web-1", t(3));
    assert_eq!(created(&w.step(&mut s, t(4))), vec!["web-2"]);
    w.run("web-2", t(4));
    w.step(&mut s, t(5));
    let st = s.status.clone().expect("status");
    assert_eq!(
        (st.replicas, st.ready_replicas, st.updated_replicas),
        (3, Some(3), Some(3))
    );
    assert_eq!(st.current_revision, st.update_revision);
    assert_eq!(st.observed_generation, Some(1));
    assert!(
        st.update_revision
            .as_deref()
            .is_some_and(|r| r.starts_with("web-"))
    );

    // Identity: name, labels, hostname and subdomain.
    let p = w
        .pods
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("web-1"))
        .expect("web-1");
    let labels = p.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(POD_NAME_LABEL).map(String::as_str),
        Some("web-1")
    );
    assert_eq!(labels.get(POD_INDEX_LABEL).map(String::as_str), Some("1"));
    assert_eq!(labels.get(HASH_LABEL), st.update_revision.as_ref());
    assert_eq!(labels.get("app").map(String::as_str), Some("web"));
    let spec = p.spec.clone().expect("spec");
    assert_eq!(spec.hostname.as_deref(), Some("web-1"));
    assert_eq!(spec.subdomain.as_deref(), Some("web-svc"));
    assert!(
        controller_ref(&p.metadata).is_some_and(|r| r.uid == "sts-uid" && r.kind == "StatefulSet")
    );
}

#[test]
fn ordered_ready_scales_down_from_the_highest_ordinal_one_at_a_time() {
    let mut s = set(3, "v1", json!({}));
    let mut w = World::default();
    for i in 0..10 {
        w.step(&mut s, t(i));
        w.run_all(t(i));
    }
    assert_eq!(w.names(), vec!["web-0", "web-1", "web-2"]);
    s.spec.as_mut().expect("spec").replicas = Some(1);
    // Deletion is not instant: mark the victim terminating instead of removing it.
    let pods: Vec<&Pod> = w.pods.iter().collect();
    let revs: Vec<&ControllerRevision> = w.revisions.iter().collect();
    let r = reconcile(&s, &pods, &revs, t(20));
    assert_eq!(deleted(&r), vec!["web-2"]);
    for p in w
        .pods
        .iter_mut()
        .filter(|p| p.metadata.name.as_deref() == Some("web-2"))
    {
        p.metadata.deletion_timestamp = Some(Time(t(20)));
    }
    let pods: Vec<&Pod> = w.pods.iter().collect();
    assert!(
        deleted(&reconcile(&s, &pods, &revs, t(21))).is_empty(),
        "waits for web-2 to go"
    );
    w.pods
        .retain(|p| p.metadata.name.as_deref() != Some("web-2"));
    assert_eq!(deleted(&w.step(&mut s, t(22))), vec!["web-1"]);
    assert_eq!(w.names(), vec!["web-0"]);
}

#[test]
fn parallel_creates_and_removes_all_at_once() {
    let mut s = set(3, "v1", json!({"podManagementPolicy": "Parallel"}));
    let mut w = World::default();
    let mut c = created(&w.step(&mut s, t(0)));
    c.sort();
    assert_eq!(c, vec!["web-0", "web-1", "web-2"]);
    s.spec.as_mut().expect("spec").replicas = Some(0);
    let mut d = deleted(&w.step(&mut s, t(1)));
    d.sort();
    assert_eq!(d, vec!["web-0", "web-1", "web-2"]);
}

fn rolled(extra: Value) -> (StatefulSet, World) {
    let mut s = set(3, "v1", extra);
    let mut w = World::default();
    for i in 0..10 {
        w.step(&mut s, t(i));
        w.run_all(t(i));
    }
    assert_eq!(w.names().len(), 3);
    s.spec.as_mut().expect("spec").template =
        serde_json::from_value(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v2"}]}}))
            .expect("template");
    s.metadata.generation = Some(2);
    (s, w)
}

#[test]
fn a_rolling_update_replaces_pods_from_the_highest_ordinal_down() {
    let (mut s, mut w) = rolled(json!({}));
    let mut order = Vec::new();
    for i in 10..40 {
        let r = w.step(&mut s, t(i));
        order.extend(deleted(&r));
        w.run_all(t(i));
    }
    assert_eq!(order, vec!["web-2", "web-1", "web-0"]);
    let st = s.status.clone().expect("status");
    let update = st.update_revision.clone().expect("update revision");
    for p in ["web-0", "web-1", "web-2"] {
        assert_eq!(w.revision_of(p), update);
    }
    assert_eq!(
        st.current_revision.as_ref(),
        Some(&update),
        "the update completed"
    );
    assert_eq!(st.updated_replicas, Some(3));
    assert_eq!(st.observed_generation, Some(2));
    assert_eq!(w.revisions.len(), 2);
    let numbers: BTreeSet<i64> = w.revisions.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, BTreeSet::from([1, 2]));
}

#[test]
fn a_partition_keeps_lower_ordinals_on_the_current_revision() {
    let (mut s, mut w) = rolled(
        json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}),
    );
    let before = w.revision_of("web-0");
    for i in 10..30 {
        w.step(&mut s, t(i));
        w.run_all(t(i));
    }
    let st = s.status.clone().expect("status");
    assert_eq!(
        w.revision_of("web-2"),
        st.update_revision.clone().unwrap_or_default()
    );
    assert_eq!(w.revision_of("web-1"), before);
    assert_eq!(w.revision_of("web-0"), before);
    assert_eq!(st.current_revision.as_deref(), Some(before.as_str()));
    assert_eq!(
        (st.updated_replicas, st.current_replicas),
        (Some(1), Some(2))
    );
    // A deleted pod below the partition comes back at the current revision.
    w.pods
        .retain(|p| p.metadata.name.as_deref() != Some("web-0"));
    w.step(&mut s, t(31));
    assert_eq!(w.revision_of("web-0"), before);
}

#[test]
fn max_unavailable_replaces_several_pods_at_once() {
    let (mut s, mut w) = rolled(
        json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}}),
    );
    let mut d = deleted(&w.step(&mut s, t(10)));
    d.sort();
    assert_eq!(d, vec!["web-1", "web-2"]);
}

#[test]
fn on_delete_waits_for_the_user_to_delete_pods() {
    let (mut s, mut w) = rolled(json!({"updateStrategy": {"type": "OnDelete"}}));
    let old = w.revision_of("web-1");
    for i in 10..20 {
        assert!(deleted(&w.step(&mut s, t(i))).is_empty());
        w.run_all(t(i));
    }
    assert_eq!(w.revision_of("web-2"), old);
    w.pods
        .retain(|p| p.metadata.name.as_deref() != Some("web-2"));
    for i in 20..25 {
        w.step(&mut s, t(i));
        w.run_all(t(i));
    }
    let update = s
        .status
        .clone()
        .and_then(|st| st.update_revision)
        .unwrap_or_default();
    assert_eq!(w.revision_of("web-2"), update);
    assert_eq!(w.revision_of("web-1"), old);
}

#[test]
fn a_rollback_reuses_the_old_revision_as_the_newest() {
    let (mut s, mut w) = rolled(json!({}));
    for i in 10..40 {
        w.step(&mut s, t(i));
        w.run_all(t(i));
    }
    let v1 = w
        .revisions
        .iter()
        .find(|r| r.revision == 1)
        .and_then(|r| r.metadata.name.clone())
        .expect("revision 1");
    // kubectl rollout undo: the template of revision 1 back.
    let old_template =
        history::template_of(w.revisions.iter().find(|r| r.revision == 1).expect("r1"))
            .expect("template");
    s.spec.as_mut().expect("spec").template = old_template;
    s.metadata.generation = Some(3);
    for i in 40..70 {
        w.step(&mut s, t(i));
        w.run_all(t(i));
    }
    assert_eq!(w.revisions.len(), 2, "no new revision");
    let r1 = w
        .revisions
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(v1.as_str()))
        .expect("v1");
    assert_eq!(r1.revision, 3);
    assert_eq!(
        s.status.clone().and_then(|st| st.current_revision),
        Some(v1.clone())
    );
    assert_eq!(w.revision_of("web-0"), v1);
}

#[test]
fn failed_pods_are_replaced_under_the_same_name() {
    let mut s = set(1, "v1", json!({}));
    let mut w = World::default();
    w.step(&mut s, t(0));
    w.pods[0].status = serde_json::from_value(json!({"phase": "Failed"})).ok();
    assert_eq!(deleted(&w.step(&mut s, t(1))), vec!["web-0"]);
    assert_eq!(created(&w.step(&mut s, t(2))), vec!["web-0"]);
}

#[test]
fn orphans_with_member_names_are_adopted_and_others_ignored() {
    let s = set(2, "v1", json!({}));
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web-0", "namespace": "default", "uid": "o", "labels": {"app": "web"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .expect("pod");
    let stranger: Pod = serde_json::from_value(json!({
        "metadata": {"name": "other", "namespace": "default", "uid": "x", "labels": {"app": "web"}}
    }))
    .expect("pod");
    let r = reconcile(&s, &[&orphan, &stranger], &[], t(0));
    let patched: Vec<&String> = r
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::MergePatch { target, name, .. } if *target == Target::PODS => Some(name),
            _ => None,
        })
        .collect();
    assert!(patched.contains(&&"web-0".to_string()), "{:?}", r.actions);
    assert!(!patched.contains(&&"other".to_string()));
    assert_eq!(created(&r), vec!["web-1"], "web-0 is adopted, not created");
}

#[test]
fn a_selector_that_does_not_match_the_template_is_reported_not_acted_on() {
    let mut s = set(
        3,
        "v1",
        json!({"selector": {"matchLabels": {"app": "other"}}}),
    );
    let mut w = World::default();
    let r = w.step(&mut s, t(0));
    assert!(created(&r).is_empty());
    assert!(r.actions.iter().any(|a| matches!(a, Action::Event { event_type: EventType::Warning, reason, .. } if reason == invalid_spec::REASON)));
    let st = s.status.clone().expect("status");
    let c = st.conditions.clone().unwrap_or_default();
    assert!(
        c.iter()
            .any(|c| c.type_ == invalid_spec::CONDITION_TYPE && c.status == "True")
    );
    assert!(w.step(&mut s, t(1)).actions.is_empty(), "reported once");
    // Fixed: the condition goes and pods come.
    s.spec.as_mut().expect("spec").selector =
        serde_json::from_value(json!({"matchLabels": {"app": "web"}})).expect("selector");
    let r = w.step(&mut s, t(2));
    assert_eq!(created(&r), vec!["web-0"]);
    let c = s
        .status
        .clone()
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    assert!(c.is_empty(), "{c:?}");
}

#[test]
fn history_beyond_the_limit_is_deleted() {
    let mut s = set(1, "v0", json!({"revisionHistoryLimit": 1}));
    let mut w = World::default();
    for v in 0..4 {
        s.spec.as_mut().expect("spec").template = serde_json::from_value(
            json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": format!("v{v}")}]}}),
        )
        .expect("template");
        for i in 0..6 {
            w.step(&mut s, t(v * 10 + i));
            w.run_all(t(v * 10 + i));
        }
    }
    // The update (= current) revision and one more.
    assert_eq!(
        w.revisions.len(),
        2,
        "{:?}",
        w.revisions.iter().map(|r| r.revision).collect::<Vec<_>>()
    );
}
