use super::*;
use serde_json::json;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("time")
}

fn hpa(min: i32, max: i32, metrics: Value, behavior: Value) -> HorizontalPodAutoscaler {
    serde_json::from_value(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "uid": "h1", "generation": 1},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": min, "maxReplicas": max, "metrics": metrics, "behavior": behavior,
        }
    }))
    .expect("hpa")
}

fn cpu_utilization(percent: i32) -> Value {
    json!([{"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": percent}}}])
}

/// A running pod, ready since well before `t(0)`, requesting `cpu` (and 100Mi of memory).
fn pod(name: &str, cpu: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"cpu": cpu, "memory": "100Mi"}}}]},
        "status": {"phase": "Running", "startTime": "2020-01-01T00:00:00Z",
            "conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": "2020-01-01T00:00:10Z"}]}
    }))
    .expect("pod")
}

fn usage(samples: &[(&str, i64, i64)]) -> BTreeMap<String, PodUsage> {
    samples
        .iter()
        .map(|(name, cpu, mem)| {
            (
                name.to_string(),
                PodUsage {
                    milli_cpu: *cpu,
                    memory_bytes: *mem,
                    timestamp: t(-5),
                    window: SignedDuration::from_secs(15),
                },
            )
        })
        .collect()
}

fn run(
    hpa: &HorizontalPodAutoscaler,
    replicas: i32,
    pods: &[Pod],
    usage: Option<&BTreeMap<String, PodUsage>>,
    memory: &Memory,
    now: Timestamp,
) -> Decision {
    let scale = Scale {
        target: Target::DEPLOYMENTS,
        replicas,
        pods: pods.iter().collect(),
    };
    reconcile(hpa, Some(&scale), usage, memory, now)
}

fn new_size(d: &Decision) -> Option<i64> {
    d.reconcile.actions.iter().find_map(|a| match a {
        Action::MergePatch {
            target,
            name,
            patch,
            ..
        } => {
            assert_eq!(*target, Target::DEPLOYMENTS);
            assert_eq!(name, "web");
            patch.pointer("/spec/replicas").and_then(Value::as_i64)
        }
        _ => None,
    })
}

fn status(d: &Decision) -> &Value {
    d.reconcile
        .actions
        .iter()
        .find_map(|a| match a {
            Action::PatchStatus { status, target, .. } => {
                assert_eq!(*target, HORIZONTAL_POD_AUTOSCALERS);
                Some(status)
            }
            _ => None,
        })
        .expect("a status update")
}

fn condition<'a>(d: &'a Decision, type_: &str) -> (&'a str, &'a str) {
    let c = status(d)["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition"));
    (
        c["status"].as_str().unwrap_or_default(),
        c["reason"].as_str().unwrap_or_default(),
    )
}

fn events(d: &Decision) -> Vec<(EventType, String, String)> {
    d.reconcile
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Event {
                event_type,
                reason,
                message,
                ..
            } => Some((*event_type, reason.clone(), message.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn usage_above_target_scales_up_within_the_rate_limit() {
    let h = hpa(1, 20, cpu_utilization(50), Value::Null);
    let pods = [pod("a", "100m"), pod("b", "100m")];
    // 200% of request against a 50% target: 4x, so 8 pods; the default rate allows
    // max(2 + 4, 2 * 2) = 6 in one period.
    let u = usage(&[("a", 200, 0), ("b", 200, 0)]);
    let d = run(&h, 2, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), Some(6));
    assert_eq!(condition(&d, "ScalingLimited"), ("True", "ScaleUpLimit"));
    assert_eq!(condition(&d, "ScalingActive"), ("True", "ValidMetricFound"));
    assert_eq!(
        events(&d),
        [(
            EventType::Normal,
            "SuccessfulRescale".to_string(),
            "New size: 6; reason: cpu resource utilization (percentage of request) above target"
                .to_string()
        )]
    );
    let s = status(&d);
    assert_eq!(s["currentReplicas"], 2);
    assert_eq!(s["desiredReplicas"], 6);
    assert_eq!(
        s["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
        200
    );
    assert_eq!(
        s["currentMetrics"][0]["resource"]["current"]["averageValue"],
        "200m"
    );
    assert_eq!(s["lastScaleTime"], t(0).to_string());
    assert_eq!(d.reconcile.requeue_after, Some(SYNC_PERIOD));

    // The next period within 15 s counts the 4 pods just added: 6 is still the limit.
    let pods6: Vec<Pod> = (0..6).map(|i| pod(&format!("p{i}"), "100m")).collect();
    let u6 = usage(
        &(0..6)
            .map(|i| (["p0", "p1", "p2", "p3", "p4", "p5"][i], 200, 0))
            .collect::<Vec<_>>(),
    );
    let again = run(&h, 6, &pods6, Some(&u6), &d.memory, t(10));
    assert_eq!(
        new_size(&again),
        None,
        "no scale-up beyond the rate within the period"
    );
    assert_eq!(
        condition(&again, "ScalingLimited"),
        ("True", "ScaleUpLimit")
    );
    // After the period the rate allows 12.
    let later = run(&h, 6, &pods6, Some(&u6), &d.memory, t(20));
    assert_eq!(new_size(&later), Some(12));
}

#[test]
fn usage_within_tolerance_changes_nothing() {
    let h = hpa(1, 10, cpu_utilization(50), Value::Null);
    let pods = [pod("a", "100m"), pod("b", "100m")];
    let u = usage(&[("a", 54, 0), ("b", 54, 0)]);
    let d = run(&h, 2, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), None);
    assert!(events(&d).is_empty());
    assert_eq!(status(&d)["desiredReplicas"], 2);
    assert_eq!(
        condition(&d, "ScalingLimited"),
        ("False", "DesiredWithinRange")
    );
}

#[test]
fn scale_down_waits_for_the_stabilization_window() {
    let h = hpa(1, 10, cpu_utilization(50), Value::Null);
    let pods: Vec<Pod> = (0..4).map(|i| pod(&format!("p{i}"), "100m")).collect();
    let names = ["p0", "p1", "p2", "p3"];
    let busy = usage(&names.map(|n| (n, 50, 0)));
    let idle = usage(&names.map(|n| (n, 10, 0)));
    let first = run(&h, 4, &pods, Some(&busy), &Memory::default(), t(0));
    assert_eq!(new_size(&first), None);
    // Usage drops: the recommendation is 1, but 4 was recommended within the last 300 s.
    let dip = run(&h, 4, &pods, Some(&idle), &first.memory, t(60));
    assert_eq!(new_size(&dip), None);
    assert_eq!(
        condition(&dip, "AbleToScale"),
        ("True", "ScaleDownStabilized")
    );
    // Once the window has passed, the lowest recommendation of the window wins.
    let later = run(&h, 4, &pods, Some(&idle), &dip.memory, t(301));
    assert_eq!(new_size(&later), Some(1));
    assert_eq!(
        events(&later)[0].2,
        "New size: 1; reason: All metrics below target"
    );
}

#[test]
fn scale_down_never_goes_below_min_replicas() {
    let h = hpa(
        3,
        10,
        cpu_utilization(50),
        json!({"scaleDown": {"stabilizationWindowSeconds": 0}}),
    );
    let pods: Vec<Pod> = (0..6).map(|i| pod(&format!("p{i}"), "100m")).collect();
    let u = usage(
        &(0..6)
            .map(|i| (["p0", "p1", "p2", "p3", "p4", "p5"][i], 5, 0))
            .collect::<Vec<_>>(),
    );
    let d = run(&h, 6, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), Some(3));
    assert_eq!(condition(&d, "ScalingLimited"), ("True", "TooFewReplicas"));
}

#[test]
fn a_disabled_scale_down_policy_keeps_the_replicas() {
    let h = hpa(
        1,
        10,
        cpu_utilization(50),
        json!({"scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Disabled"}}),
    );
    let pods: Vec<Pod> = (0..4).map(|i| pod(&format!("p{i}"), "100m")).collect();
    let u = usage(&["p0", "p1", "p2", "p3"].map(|n| (n, 1, 0)));
    let d = run(&h, 4, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), None);
    assert_eq!(condition(&d, "ScalingLimited"), ("True", "ScaleDownLimit"));
}

#[test]
fn pods_without_metrics_count_as_at_target_when_scaling_down() {
    let h = hpa(
        1,
        10,
        cpu_utilization(50),
        json!({"scaleDown": {"stabilizationWindowSeconds": 0}}),
    );
    let pods = [pod("a", "100m"), pod("b", "100m"), pod("c", "100m")];
    // a and b at 40% of a 50% target (ratio 0.8); c has no sample and counts as using 100% of
    // its request: (40 + 40 + 100) / 300 = 60% → ratio 1.2, the other direction: no change.
    let u = usage(&[("a", 40, 0), ("b", 40, 0)]);
    let d = run(&h, 3, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), None);
}

#[test]
fn pods_without_metrics_count_as_idle_when_scaling_up() {
    let h = hpa(1, 10, cpu_utilization(50), Value::Null);
    let pods = [
        pod("a", "100m"),
        pod("b", "100m"),
        pod("c", "100m"),
        pod("d", "100m"),
    ];
    // a and b at 200% (ratio 4); c and d missing count as 0: 400/400 = 100% → ratio 2 → 8,
    // limited to 8 by the rate (max(4 + 4, 8)).
    let u = usage(&[("a", 200, 0), ("b", 200, 0)]);
    let d = run(&h, 4, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), Some(8));
}

#[test]
fn pending_and_not_yet_ready_pods_do_not_drive_a_scale_up() {
    let h = hpa(1, 10, cpu_utilization(50), Value::Null);
    let mut starting = pod("b", "100m");
    let status = starting.status.as_mut().expect("status");
    status.phase = Some("Pending".into());
    let pods = [pod("a", "100m"), starting];
    // a at 60% (ratio 1.2); b pending counts as 0 when scaling up: 60/200 = 30% → ratio 0.6,
    // the other direction: no change.
    let u = usage(&[("a", 60, 0), ("b", 500, 0)]);
    let d = run(&h, 2, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), None);
}

#[test]
fn deleted_and_failed_pods_are_ignored() {
    let h = hpa(1, 10, cpu_utilization(50), Value::Null);
    let mut failed = pod("b", "100m");
    failed.status.as_mut().expect("status").phase = Some("Failed".into());
    let pods = [pod("a", "100m"), failed];
    let u = usage(&[("a", 50, 0), ("b", 900, 0)]);
    let d = run(&h, 2, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), None, "b's usage does not count");
}

#[test]
fn a_pod_without_a_request_makes_the_metric_fail_with_an_event() {
    let h = hpa(1, 10, cpu_utilization(50), Value::Null);
    let mut bare = pod("a", "100m");
    bare.spec.as_mut().expect("spec").containers[0].resources = None;
    let u = usage(&[("a", 50, 0)]);
    let d = run(&h, 1, &[bare], Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), None);
    assert_eq!(
        condition(&d, "ScalingActive"),
        ("False", "FailedGetResourceMetric")
    );
    let ev = events(&d);
    assert!(ev.iter().any(|(ty, reason, msg)| *ty == EventType::Warning
        && reason == "FailedGetResourceMetric"
        && msg.contains("missing request for cpu")));
}

#[test]
fn no_metrics_api_means_no_scaling_and_a_warning() {
    let h = hpa(1, 10, cpu_utilization(50), Value::Null);
    let d = run(&h, 2, &[pod("a", "100m")], None, &Memory::default(), t(0));
    assert_eq!(new_size(&d), None);
    assert_eq!(
        condition(&d, "ScalingActive"),
        ("False", "FailedGetResourceMetric")
    );
    assert_eq!(status(&d)["desiredReplicas"], 2);
}

#[test]
fn a_missing_target_is_reported_not_scaled() {
    let h = hpa(1, 10, cpu_utilization(50), Value::Null);
    let d = reconcile(&h, None, None, &Memory::default(), t(0));
    assert_eq!(new_size(&d), None);
    assert_eq!(condition(&d, "AbleToScale"), ("False", "FailedGetScale"));
    assert!(events(&d)[0].2.contains("Deployment/web not found"));
}

#[test]
fn replicas_outside_min_and_max_are_brought_back_without_metrics() {
    let h = hpa(2, 5, cpu_utilization(50), Value::Null);
    let pods: Vec<Pod> = (0..8).map(|i| pod(&format!("p{i}"), "100m")).collect();
    let d = run(&h, 8, &pods, None, &Memory::default(), t(0));
    assert_eq!(new_size(&d), Some(5));
    assert_eq!(
        events(&d)[0].2,
        "New size: 5; reason: Current number of replicas above Spec.MaxReplicas"
    );
    let d = run(&h, 1, &pods[..1], None, &Memory::default(), t(0));
    assert_eq!(new_size(&d), Some(2));
}

#[test]
fn a_target_scaled_to_zero_disables_autoscaling() {
    let h = hpa(1, 5, cpu_utilization(50), Value::Null);
    let d = run(&h, 0, &[], None, &Memory::default(), t(0));
    assert_eq!(new_size(&d), None);
    assert_eq!(condition(&d, "ScalingActive"), ("False", "ScalingDisabled"));
}

#[test]
fn memory_average_value_targets_scale_on_bytes() {
    let h = hpa(
        1,
        10,
        json!([{"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]),
        Value::Null,
    );
    let pods = [pod("a", "100m"), pod("b", "100m")];
    let mib = 1024 * 1024;
    let u = usage(&[("a", 0, 300 * mib), ("b", 0, 300 * mib)]);
    let d = run(&h, 2, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), Some(6));
    assert_eq!(
        status(&d)["currentMetrics"][0]["resource"]["current"]["averageValue"],
        (300 * mib).to_string()
    );
}

#[test]
fn the_highest_of_several_metrics_wins() {
    let metrics = json!([
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 50}}}
    ]);
    let h = hpa(1, 10, metrics, Value::Null);
    let pods = [pod("a", "100m"), pod("b", "100m")];
    // cpu at 50% (ratio 1), memory at 150% of 100Mi (ratio 3 → 6).
    let u = usage(&[("a", 50, 150 * 1024 * 1024), ("b", 50, 150 * 1024 * 1024)]);
    let d = run(&h, 2, &pods, Some(&u), &Memory::default(), t(0));
    assert_eq!(new_size(&d), Some(6));
    assert!(events(&d)[0].2.contains("memory resource utilization"));
    assert_eq!(
        status(&d)["currentMetrics"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn unsupported_metric_types_are_named() {
    let h = hpa(
        1,
        10,
        json!([{"type": "External", "external": {"metric": {"name": "queue"},
            "target": {"type": "Value", "value": "1"}}}]),
        Value::Null,
    );
    let d = run(&h, 2, &[pod("a", "100m")], None, &Memory::default(), t(0));
    assert_eq!(
        condition(&d, "ScalingActive"),
        ("False", "InvalidMetricSourceType")
    );
    assert!(events(&d)[0].2.contains("External"));
}

#[test]
fn only_workloads_with_replicas_are_scale_targets() {
    assert_eq!(
        scale_target("apps/v1", "Deployment"),
        Some(Target::DEPLOYMENTS)
    );
    assert_eq!(
        scale_target("apps/v1", "StatefulSet"),
        Some(Target::STATEFULSETS)
    );
    assert_eq!(
        scale_target("apps/v1", "ReplicaSet"),
        Some(Target::REPLICASETS)
    );
    assert_eq!(scale_target("apps/v1", "DaemonSet"), None);
    assert_eq!(scale_target("v1", "Pod"), None);
}
