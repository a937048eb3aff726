use super::*;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).expect("time")
}

fn deployment(replicas: i32, image: &str, strategy: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": strategy,
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}
        }
    }))
    .expect("deployment")
}

/// Apply a decision's ReplicaSet writes to the world, as the API server would.
fn apply(world: &mut Vec<ReplicaSet>, r: &Reconcile, clock: i64) {
    for a in &r.actions {
        match a {
            Action::Create { target, object, .. } if *target == Target::REPLICASETS => {
                let mut rs: ReplicaSet = serde_json::from_value(object.clone()).expect("rs");
                rs.metadata.uid = Some(format!(
                    "uid-{}",
                    rs.metadata.name.clone().unwrap_or_default()
                ));
                rs.metadata.creation_timestamp = Some(Time(t(clock)));
                world.push(rs);
            }
            Action::MergePatch {
                target,
                name,
                patch,
                ..
            } if *target == Target::REPLICASETS => {
                let rs = world
                    .iter_mut()
                    .find(|r| r.metadata.name.as_deref() == Some(name))
                    .expect("patched rs");
                if let Some(n) = patch.pointer("/spec/replicas").and_then(Value::as_i64)
                    && let Some(s) = rs.spec.as_mut()
                {
                    s.replicas = Some(n as i32);
                }
                if let Some(a) = patch
                    .pointer("/metadata/annotations")
                    .and_then(Value::as_object)
                {
                    let ann = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
                    for (k, v) in a {
                        ann.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                    }
                }
            }
            Action::Delete { target, name, .. } if *target == Target::REPLICASETS => {
                world.retain(|r| r.metadata.name.as_deref() != Some(name));
            }
            _ => {}
        }
    }
}

/// The ReplicaSet controller and kubelets, simplified: pods appear at once and become
/// available one step later; removed pods go at once.
fn settle(world: &mut [ReplicaSet]) {
    for rs in world.iter_mut() {
        let want = spec_replicas(rs);
        let st = rs.status.get_or_insert_with(Default::default);
        let before = st.replicas;
        st.available_replicas = Some(
            st.available_replicas
                .unwrap_or(0)
                .min(want)
                .max(before.min(want)),
        );
        st.ready_replicas = st.available_replicas;
        st.replicas = want;
    }
}

fn refs(world: &[ReplicaSet]) -> Vec<&ReplicaSet> {
    world.iter().collect()
}

fn totals(world: &[ReplicaSet]) -> (i32, i32) {
    (
        world.iter().map(spec_replicas).sum(),
        world
            .iter()
            .map(|rs| {
                rs.status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0)
            })
            .sum(),
    )
}

fn roll(
    d: &Deployment,
    world: &mut Vec<ReplicaSet>,
    clock: &mut i64,
    max_surge: i32,
    max_unavailable: i32,
    replicas: i32,
) {
    for _ in 0..100 {
        *clock += 1;
        let r = reconcile(d, &refs(world), &[], t(*clock));
        apply(world, &r, *clock);
        let (total, available) = totals(world);
        assert!(total <= replicas + max_surge, "surge exceeded: {total}");
        settle(world);
        let (_, available_after) = totals(world);
        assert!(
            available_after.max(available) >= replicas - max_unavailable || *clock < 3,
            "availability fell to {available_after}"
        );
        let d_status = reconcile(d, &refs(world), &[], t(*clock));
        if d_status
            .actions
            .iter()
            .all(|a| matches!(a, Action::PatchStatus { .. } | Action::Event { .. }))
            && world.iter().filter(|rs| spec_replicas(rs) > 0).count() == 1
            && totals(world).1 == replicas
        {
            return;
        }
    }
    panic!(
        "the rollout did not finish: {:?}",
        world
            .iter()
            .map(|r| (rs_name(r), spec_replicas(r)))
            .collect::<Vec<_>>()
    );
}

#[test]
fn fenceposts_round_like_upstream() {
    let pct = |s: &str| IntOrString::String(s.into());
    assert_eq!(resolve_fenceposts(None, None, 10), (3, 2));
    assert_eq!(
        resolve_fenceposts(Some(&pct("10%")), Some(&pct("10%")), 5),
        (1, 0)
    );
    assert_eq!(
        resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 5),
        (0, 1)
    );
    assert_eq!(
        resolve_fenceposts(Some(&IntOrString::Int(2)), Some(&pct("50%")), 3),
        (2, 1)
    );
}

#[test]
fn a_new_deployment_gets_one_replica_set_with_revision_one() {
    let d = deployment(3, "v1", json!({}));
    let r = reconcile(&d, &[], &[], t(0));
    let Some(Action::Create { object, .. }) = r.actions.first() else {
        panic!("create")
    };
    let name = object["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("web-"));
    let hash = object["metadata"]["labels"][HASH_LABEL]
        .as_str()
        .expect("hash");
    assert_eq!(name, format!("web-{hash}"));
    assert_eq!(object["spec"]["selector"]["matchLabels"][HASH_LABEL], hash);
    assert_eq!(
        object["spec"]["template"]["metadata"]["labels"][HASH_LABEL],
        hash
    );
    assert_eq!(object["metadata"]["annotations"][REVISION], "1");
    assert_eq!(object["spec"]["replicas"], 3);
    assert!(r.actions.iter().any(|a| matches!(a, Action::Event { message, .. } if message == &format!("Scaled up replica set {name} from 0 to 3"))));
}

#[test]
fn a_rolling_update_keeps_availability_and_surge_within_bounds() {
    let mut world = Vec::new();
    let mut clock = 0;
    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}});
    roll(
        &deployment(5, "v1", strategy.clone()),
        &mut world,
        &mut clock,
        1,
        1,
        5,
    );
    roll(
        &deployment(5, "v2", strategy.clone()),
        &mut world,
        &mut clock,
        1,
        1,
        5,
    );
    let revisions: Vec<i64> = world.iter().map(revision_of).collect();
    assert_eq!(world.len(), 2);
    assert!(
        revisions.contains(&1) && revisions.contains(&2),
        "{revisions:?}"
    );
    // Rolling back to v1 reuses the old ReplicaSet as revision 3.
    roll(
        &deployment(5, "v1", strategy),
        &mut world,
        &mut clock,
        1,
        1,
        5,
    );
    assert_eq!(world.len(), 2);
    let active = world
        .iter()
        .find(|rs| spec_replicas(rs) == 5)
        .expect("active");
    assert_eq!(revision_of(active), 3);
}

#[test]
fn recreate_scales_old_to_zero_before_the_new_one_starts() {
    let mut world = Vec::new();
    let mut clock = 0;
    let strategy = json!({"type": "Recreate"});
    roll(
        &deployment(3, "v1", strategy.clone()),
        &mut world,
        &mut clock,
        0,
        3,
        3,
    );
    let d2 = deployment(3, "v2", strategy);
    let r = reconcile(&d2, &refs(&world), &[], t(100));
    let Some(Action::Create { object, .. }) = r
        .actions
        .iter()
        .find(|a| matches!(a, Action::Create { .. }))
    else {
        panic!("new rs")
    };
    assert_eq!(
        object["spec"]["replicas"], 0,
        "nothing new while old pods run"
    );
    apply(&mut world, &r, 100);
    let r = reconcile(&d2, &refs(&world), &[], t(101));
    apply(&mut world, &r, 101);
    assert!(
        world.iter().all(|rs| spec_replicas(rs) == 0),
        "old scaled to zero first"
    );
    settle(&mut world);
    let r = reconcile(&d2, &refs(&world), &[], t(102));
    apply(&mut world, &r, 102);
    assert_eq!(totals(&world).0, 3);
}

#[test]
fn history_beyond_the_limit_is_deleted_oldest_first() {
    let mut world = Vec::new();
    let mut clock = 0;
    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    for v in 0..4 {
        let mut d = deployment(2, &format!("v{v}"), strategy.clone());
        if let Some(s) = d.spec.as_mut() {
            s.revision_history_limit = Some(1);
        }
        roll(&d, &mut world, &mut clock, 1, 0, 2);
    }
    let mut d = deployment(2, "v3", strategy);
    if let Some(s) = d.spec.as_mut() {
        s.revision_history_limit = Some(1);
    }
    let r = reconcile(&d, &refs(&world), &[], t(1000));
    apply(&mut world, &r, 1000);
    let mut revisions: Vec<i64> = world.iter().map(revision_of).collect();
    revisions.sort();
    assert_eq!(revisions, vec![3, 4]);
}

#[test]
fn status_and_conditions_say_what_rollout_status_reads() {
    let mut world = Vec::new();
    let mut clock = 0;
    let d = deployment(2, "v1", json!({}));
    roll(&d, &mut world, &mut clock, 1, 0, 2);
    let r = reconcile(&d, &refs(&world), &[], t(clock + 1));
    let status = r.actions.iter().find_map(|a| match a {
        Action::PatchStatus { status, .. } => Some(status.clone()),
        _ => None,
    });
    let status = status.expect("status");
    assert_eq!(status["updatedReplicas"], 2);
    assert_eq!(status["availableReplicas"], 2);
    assert_eq!(status["observedGeneration"], 1);
    let conds = status["conditions"].as_array().expect("conditions");
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
    );
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable")
    );
}

#[test]
fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let mut d = deployment(1, "v1", json!({}));
    if let Some(s) = d.spec.as_mut() {
        s.progress_deadline_seconds = Some(10);
    }
    let mut world = Vec::new();
    let r = reconcile(&d, &[], &[], t(0));
    apply(&mut world, &r, 0);
    // The pod never becomes available; status says progressing, then timed out.
    let mut with_status = d.clone();
    let r = reconcile(&with_status, &refs(&world), &[], t(1));
    let status = r
        .actions
        .iter()
        .find_map(|a| match a {
            Action::PatchStatus { status, .. } => Some(status.clone()),
            _ => None,
        })
        .expect("status");
    with_status.status = serde_json::from_value(status).ok();
    let r = reconcile(&with_status, &refs(&world), &[], t(30));
    let status = r
        .actions
        .iter()
        .find_map(|a| match a {
            Action::PatchStatus { status, .. } => Some(status.clone()),
            _ => None,
        })
        .expect("status");
    let conds = status["conditions"].as_array().cloned().unwrap_or_default();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"),
        "{conds:?}"
    );
}
