use super::*;
use k8s_openapi::api::core::v1::PodSpec;
use std::collections::BTreeMap;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).expect("time")
}

fn pod(policy: &str, init: &[&str], mains: &[&str]) -> Pod {
    let c = |n: &&str| Container {
        name: n.to_string(),
        image: Some("img".into()),
        ..Container::default()
    };
    Pod {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("p".into()),
            namespace: Some("default".into()),
            uid: Some("u".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: (!init.is_empty()).then(|| init.iter().map(c).collect()),
            containers: mains.iter().map(c).collect(),
            ..PodSpec::default()
        }),
        status: None,
    }
}

fn running(name: &str, attempt: u32) -> ContainerMemory {
    ContainerMemory {
        current: Some(ContainerInfo {
            id: format!("u/{name}-{attempt}"),
            pod_uid: "u".into(),
            name: name.into(),
            attempt,
            state: ContainerState::Running { started_at: t(0) },
        }),
        ready: true,
        started: true,
        ..ContainerMemory::default()
    }
}

fn exited(name: &str, attempt: u32, code: i32) -> ContainerMemory {
    ContainerMemory {
        current: Some(ContainerInfo {
            id: format!("u/{name}-{attempt}"),
            pod_uid: "u".into(),
            name: name.into(),
            attempt,
            state: ContainerState::Exited {
                exit_code: code,
                started_at: t(0),
                finished_at: t(1),
                reason: if code == 0 { "Completed" } else { "Error" }.into(),
            },
        }),
        ..ContainerMemory::default()
    }
}

fn mem(entries: Vec<(&str, ContainerMemory)>) -> Memories {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn start(name: &str, attempt: u32, init: bool) -> Step {
    Step::Start {
        name: name.into(),
        attempt,
        init,
    }
}

#[test]
fn a_new_pod_starts_its_first_init_container_only() {
    let p = pod("Always", &["i1", "i2"], &["web"]);
    assert_eq!(
        plan(&p, &Memories::default(), t(0)).steps,
        vec![start("i1", 0, true)]
    );
    let m = mem(vec![("i1", exited("i1", 0, 0))]);
    assert_eq!(plan(&p, &m, t(0)).steps, vec![start("i2", 0, true)]);
    let m = mem(vec![("i1", exited("i1", 0, 0)), ("i2", running("i2", 0))]);
    assert!(plan(&p, &m, t(0)).steps.is_empty());
    let m = mem(vec![("i1", exited("i1", 0, 0)), ("i2", exited("i2", 0, 0))]);
    assert_eq!(plan(&p, &m, t(0)).steps, vec![start("web", 0, false)]);
}

#[test]
fn a_failed_init_container_fails_a_pod_that_never_restarts() {
    let p = pod("Never", &["i1"], &["web"]);
    let m = mem(vec![("i1", exited("i1", 0, 1))]);
    assert!(plan(&p, &m, t(5)).steps.is_empty());
    let s = status(
        &p,
        &m,
        "process",
        Some("127.1.0.2"),
        "127.0.0.1",
        t(0),
        t(5),
    );
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    // With OnFailure it is retried.
    let p = pod("OnFailure", &["i1"], &["web"]);
    assert_eq!(plan(&p, &m, t(5)).steps, vec![start("i1", 1, true)]);
}

#[test]
fn restart_policies_decide_whether_an_exited_container_starts_again() {
    for (policy, code, restarts) in [
        ("Always", 0, true),
        ("Always", 1, true),
        ("OnFailure", 0, false),
        ("OnFailure", 2, true),
        ("Never", 1, false),
    ] {
        let p = pod(policy, &[], &["c"]);
        let m = mem(vec![("c", exited("c", 3, code))]);
        let steps = plan(&p, &m, t(5)).steps;
        assert_eq!(!steps.is_empty(), restarts, "{policy} {code}");
        if restarts {
            assert_eq!(steps, vec![start("c", 4, false)]);
        }
    }
}

#[test]
fn back_off_doubles_from_ten_seconds_to_five_minutes() {
    assert_eq!(backoff_for(1), Duration::from_secs(10));
    assert_eq!(backoff_for(2), Duration::from_secs(20));
    assert_eq!(backoff_for(5), Duration::from_secs(160));
    assert_eq!(backoff_for(6), Duration::from_secs(300));
    assert_eq!(backoff_for(60), Duration::from_secs(300));
    let mut m = exited("c", 0, 1);
    note_failure(&mut m, t(1), Duration::from_secs(1));
    assert_eq!(m.backoff_until, None, "the first restart is immediate");
    note_failure(&mut m, t(2), Duration::from_secs(1));
    assert_eq!(m.backoff_until, Some(t(12)));
    note_failure(&mut m, t(20), Duration::from_secs(1));
    assert_eq!(m.backoff_until, Some(t(40)));
    // A long run resets it.
    note_failure(&mut m, t(2000), BACKOFF_RESET);
    assert_eq!(m.failures, 1);
}

#[test]
fn a_container_in_back_off_waits_with_crash_loop_back_off() {
    let p = pod("Always", &[], &["c"]);
    let mut c = exited("c", 2, 1);
    c.failures = 3;
    c.backoff_until = Some(t(41));
    let m = mem(vec![("c", c)]);
    let planned = plan(&p, &m, t(5));
    assert!(planned.steps.is_empty());
    assert_eq!(planned.wake_at, Some(t(41)));
    let s = status(
        &p,
        &m,
        "process",
        Some("127.1.0.2"),
        "127.0.0.1",
        t(0),
        t(5),
    );
    let cs = &s.container_statuses.expect("statuses")[0];
    let w = cs
        .state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .expect("waiting");
    assert_eq!(w.reason.as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(
        w.message.as_deref(),
        Some("back-off 20s restarting failed container=c pod=p_default(u)")
    );
    assert_eq!(cs.restart_count, 2);
    assert!(
        cs.last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some()
    );
    assert_eq!(
        planned.wake_at.map(|w| plan(&p, &m, w).steps),
        Some(vec![start("c", 3, false)])
    );
}

#[test]
fn a_start_error_is_reported_as_waiting_with_its_reason() {
    let p = pod("Always", &[], &["c"]);
    let m = mem(vec![(
        "c",
        ContainerMemory {
            start_error: Some((
                "RunContainerError".into(),
                "exec: \"nope\": executable file not found in $PATH".into(),
            )),
            failures: 1,
            ..ContainerMemory::default()
        },
    )]);
    assert_eq!(plan(&p, &m, t(0)).steps, vec![start("c", 0, false)]);
    let s = status(&p, &m, "process", None, "127.0.0.1", t(0), t(0));
    let w = s.container_statuses.expect("cs")[0]
        .state
        .clone()
        .and_then(|s| s.waiting)
        .expect("waiting");
    assert_eq!(w.reason.as_deref(), Some("RunContainerError"));
    assert!(w.message.unwrap_or_default().contains("nope"));
    assert_eq!(s.phase.as_deref(), Some("Pending"));
}

#[test]
fn a_failed_pull_is_err_image_pull_then_image_pull_back_off() {
    let p = pod("Always", &[], &["c"]);
    let mut c = ContainerMemory::default();
    let failure = ("ErrImagePull".to_string(), "no registry".to_string());
    c.start_error = Some(failure.clone());
    note_failure(&mut c, t(0), Duration::ZERO);
    let waiting = |m: &Memories, at: Timestamp| {
        let s = status(&p, m, "docker", None, "h", t(0), at);
        let cs = s.container_statuses.expect("cs")[0].clone();
        (
            cs.state.and_then(|s| s.waiting).expect("waiting"),
            cs.last_state,
        )
    };
    let (w, _) = waiting(&mem(vec![("c", c.clone())]), t(0));
    assert_eq!(w.reason.as_deref(), Some("ErrImagePull"));
    // The second failure starts the back-off.
    note_failure(&mut c, t(1), Duration::ZERO);
    let (w, last) = waiting(&mem(vec![("c", c)]), t(2));
    assert_eq!(w.reason.as_deref(), Some("ImagePullBackOff"));
    assert_eq!(
        w.message.as_deref(),
        Some("Back-off pulling image \"img\": ErrImagePull: no registry")
    );
    assert_eq!(last, None, "a pull failure is not a terminated run");
}

#[test]
fn phase_and_conditions_follow_the_containers() {
    let p = pod("Always", &[], &["a", "b"]);
    let s = status(&p, &Memories::default(), "process", None, "h", t(0), t(0));
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let cond = |s: &PodStatus, ty: &str| {
        s.conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == ty))
            .map(|c| c.status.clone())
    };
    assert_eq!(cond(&s, "Ready").as_deref(), Some("False"));

    let mut b = running("b", 0);
    b.ready = false;
    let m = mem(vec![("a", running("a", 0)), ("b", b.clone())]);
    let s = status(&p, &m, "process", Some("127.1.0.2"), "h", t(0), t(3));
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(cond(&s, "Ready").as_deref(), Some("False"));
    assert_eq!(cond(&s, "Initialized").as_deref(), Some("True"));
    b.ready = true;
    let m = mem(vec![("a", running("a", 0)), ("b", b)]);
    let s = status(&p, &m, "process", Some("127.1.0.2"), "h", t(0), t(3));
    assert_eq!(cond(&s, "Ready").as_deref(), Some("True"));
    assert_eq!(cond(&s, "ContainersReady").as_deref(), Some("True"));
    assert_eq!(s.pod_ip.as_deref(), Some("127.1.0.2"));

    let p = pod("Never", &[], &["a", "b"]);
    let m = mem(vec![("a", exited("a", 0, 0)), ("b", exited("b", 0, 0))]);
    assert_eq!(
        status(&p, &m, "process", None, "h", t(0), t(3))
            .phase
            .as_deref(),
        Some("Succeeded")
    );
    let m = mem(vec![("a", exited("a", 0, 0)), ("b", exited("b", 0, 3))]);
    assert_eq!(
        status(&p, &m, "process", None, "h", t(0), t(3))
            .phase
            .as_deref(),
        Some("Failed")
    );
    let m = mem(vec![("a", exited("a", 0, 0)), ("b", running("b", 0))]);
    assert_eq!(
        status(&p, &m, "process", None, "h", t(0), t(3))
            .phase
            .as_deref(),
        Some("Running")
    );
}

#[test]
fn a_failed_liveness_probe_kills_the_running_container() {
    let p = pod("Always", &[], &["c"]);
    let mut c = running("c", 1);
    c.liveness_failed = true;
    let m = mem(vec![("c", c)]);
    assert_eq!(
        plan(&p, &m, t(0)).steps,
        vec![Step::Kill {
            id: "u/c-1".into(),
            name: "c".into()
        }]
    );
}

#[test]
fn qos_classes_follow_requests_and_limits() {
    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let mut p = pod("Always", &[], &["c"]);
    assert_eq!(qos_class(&p), "BestEffort");
    let q = |v: &str| Quantity(v.into());
    let both = BTreeMap::from([
        ("cpu".to_string(), q("1")),
        ("memory".to_string(), q("1Gi")),
    ]);
    if let Some(spec) = p.spec.as_mut() {
        spec.containers[0].resources = Some(ResourceRequirements {
            limits: Some(both.clone()),
            ..ResourceRequirements::default()
        });
    }
    assert_eq!(qos_class(&p), "Guaranteed");
    if let Some(spec) = p.spec.as_mut() {
        spec.containers[0].resources = Some(ResourceRequirements {
            requests: Some(BTreeMap::from([("cpu".to_string(), q("100m"))])),
            ..ResourceRequirements::default()
        });
    }
    assert_eq!(qos_class(&p), "Burstable");
}

/// A pod as the API server returns it: scheduling fields, owner, labels, a reported status.
fn full_pod(downward_labels: bool) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": "p", "namespace": "default", "uid": "u",
            "labels": {"app": "web"}, "annotations": {"note": "x"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "r"}],
            "managedFields": [{"manager": "kubectl", "operation": "Update"}]
        },
        "spec": {
            "nodeName": "n", "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "containers": [{
                "name": "c", "image": "img", "command": ["sleep", "3600"],
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
                "env": if downward_labels {
                    serde_json::json!([{"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}])
                } else {
                    serde_json::json!([{"name": "A", "value": "1"}])
                }
            }]
        },
        "status": {
            "phase": "Running", "podIP": "10.0.0.5", "hostIP": "10.0.0.1", "qosClass": "Guaranteed",
            "startTime": "2026-01-01T00:00:00Z",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"}
            ],
            "containerStatuses": [{"name": "c", "image": "img", "imageID": "", "ready": true, "restartCount": 0}]
        }
    }))
    .expect("pod")
}

#[test]
fn a_trimmed_pod_gives_the_same_decisions_and_status() {
    let full = full_pod(false);
    let mut trimmed = full.clone();
    trim(&mut trimmed);
    assert!(trimmed.metadata.managed_fields.is_none());
    assert!(trimmed.metadata.labels.is_none());
    assert!(trimmed.spec.as_ref().expect("spec").tolerations.is_none());
    assert!(
        trimmed
            .status
            .as_ref()
            .expect("status")
            .container_statuses
            .is_none()
    );
    for memory in [
        Memories::default(),
        mem(vec![("c", running("c", 0))]),
        mem(vec![("c", exited("c", 0, 1))]),
    ] {
        assert_eq!(plan(&full, &memory, t(10)), plan(&trimmed, &memory, t(10)));
        let status_of = |pod| {
            status(
                pod,
                &memory,
                "simulated",
                Some("10.0.0.5"),
                "h",
                t(0),
                t(10),
            )
        };
        assert_eq!(status_of(&full), status_of(&trimmed));
    }
}

#[test]
fn trimming_keeps_labels_the_downward_api_reads() {
    let mut pod = full_pod(true);
    trim(&mut pod);
    assert_eq!(
        pod.metadata.labels.and_then(|l| l.get("app").cloned()),
        Some("web".to_string())
    );
    assert!(pod.metadata.annotations.is_none());
}
