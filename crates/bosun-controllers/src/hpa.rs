//! The HorizontalPodAutoscaler controller (autoscaling/v2) on Resource metrics (cpu, memory),
//! with kube-controller-manager's algorithm: the replica count that brings the pods' average
//! usage to the target, a 10 % tolerance, missing and not-yet-ready pods counted so that they
//! never cause a scale in the wrong direction, then the `behavior` rules — a stabilization
//! window (scale-down: 300 s by default) over recent recommendations and rate limits per period
//! (scale-up by default: 4 pods or 100 % per 15 s, whichever is more; scale-down: 100 % per
//! 15 s) — and `minReplicas`/`maxReplicas`.
//!
//! The decision needs memory of recent recommendations and scale events, as the upstream
//! controller keeps in memory: [`Memory`] goes in and comes out updated with the actions.

use crate::action::{Action, EventType, Reconcile, Target};
use crate::pod::Pod;
use crate::pod_state::object_reference;
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition,
    MetricSpec,
};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// How far usage may be from the target before the controller scales (upstream's default
/// `--horizontal-pod-autoscaler-tolerance`).
pub const TOLERANCE: f64 = 0.1;
/// How often the controller looks at every HPA (upstream's default sync period).
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);
/// A pod's cpu samples are not trusted this long after it started unless it is ready.
const CPU_INITIALIZATION_PERIOD: SignedDuration = SignedDuration::from_secs(300);
/// A pod that turned ready within this long of starting is counted as ready from the start.
const INITIAL_READINESS_DELAY: SignedDuration = SignedDuration::from_secs(30);
const DEFAULT_SCALE_DOWN_WINDOW: i32 = 300;

pub const HORIZONTAL_POD_AUTOSCALERS: Target = Target {
    api_version: "autoscaling/v2",
    plural: "horizontalpodautoscalers",
};

/// One pod's usage sample from the metrics API (metrics.k8s.io), summed over its containers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodUsage {
    pub milli_cpu: i64,
    pub memory_bytes: i64,
    /// When the sample was taken, and over how long.
    pub timestamp: Timestamp,
    pub window: SignedDuration,
}

/// The target's `/scale` as read: `spec.replicas` and the pods its selector matches.
#[derive(Debug, Clone)]
pub struct Scale<'a> {
    pub target: Target,
    pub replicas: i32,
    pub pods: Vec<&'a Pod>,
}

/// What the controller remembers of one HPA between reconciles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    recommendations: Vec<(Timestamp, i32)>,
    /// Replica changes made: positive up, negative down.
    scale_events: Vec<(Timestamp, i32)>,
}

/// A decision and the memory to keep for next time.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub reconcile: Reconcile,
    pub memory: Memory,
}

/// The workload kinds an HPA can scale (through their `spec.replicas`).
pub fn scale_target(api_version: &str, kind: &str) -> Option<Target> {
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("apps", "Deployment") => Some(Target::DEPLOYMENTS),
        ("apps", "ReplicaSet") => Some(Target::REPLICASETS),
        ("apps", "StatefulSet") => Some(Target::STATEFULSETS),
        _ => None,
    }
}

/// Decide for one HPA. `scale` is `None` when the target does not exist (or is not a kind bosun
/// can scale); `usage` is `None` when the metrics API could not be read, otherwise the samples by
/// pod name.
pub fn reconcile(
    hpa: &HorizontalPodAutoscaler,
    scale: Option<&Scale<'_>>,
    usage: Option<&BTreeMap<String, PodUsage>>,
    memory: &Memory,
    now: Timestamp,
) -> Decision {
    let mut memory = memory.clone();
    let mut out = Reconcile {
        actions: vec![],
        requeue_after: Some(SYNC_PERIOD),
    };
    let (Some(name), Some(ns)) = (
        hpa.metadata.name.as_deref(),
        hpa.metadata.namespace.as_deref(),
    ) else {
        return Decision {
            reconcile: out,
            memory,
        };
    };
    if hpa.metadata.deletion_timestamp.is_some() {
        return Decision {
            reconcile: Reconcile::default(),
            memory,
        };
    }
    let spec = hpa.spec.as_ref();
    let reference = spec.map(|s| &s.scale_target_ref);
    let mut conditions = Conditions::default();
    let event = |out: &mut Reconcile, event_type, reason: &str, message: String| {
        out.actions.push(Action::Event {
            involved: object_reference("autoscaling/v2", "HorizontalPodAutoscaler", &hpa.metadata),
            event_type,
            reason: reason.into(),
            message,
        });
    };

    let Some(scale) = scale else {
        let what = reference.map_or_else(String::new, |r| format!("{}/{}", r.kind, r.name));
        let message = format!(
            "the HPA controller was unable to get the target's current scale: {what} not found"
        );
        conditions.set("AbleToScale", false, "FailedGetScale", &message);
        event(&mut out, EventType::Warning, "FailedGetScale", message);
        out.actions.push(status_action(
            ns,
            name,
            hpa,
            None,
            None,
            vec![],
            &conditions,
            false,
            now,
        ));
        return Decision {
            reconcile: out,
            memory,
        };
    };
    conditions.set(
        "AbleToScale",
        true,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    );

    let min_replicas = spec.and_then(|s| s.min_replicas).unwrap_or(1);
    let max_replicas = spec.map_or(min_replicas, |s| s.max_replicas);
    let current = scale.replicas;
    let mut metric_statuses = vec![];
    let (desired, reason) = if current == 0 && min_replicas != 0 {
        conditions.set(
            "ScalingActive",
            false,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        );
        (0, String::new())
    } else if current > max_replicas {
        (
            max_replicas,
            "Current number of replicas above Spec.MaxReplicas".to_string(),
        )
    } else if current < min_replicas {
        (
            min_replicas,
            "Current number of replicas below Spec.MinReplicas".to_string(),
        )
    } else {
        let metrics = spec.and_then(|s| s.metrics.clone()).unwrap_or_else(|| {
            // Upstream defaults an HPA without metrics to 80 % cpu utilization.
            vec![default_cpu_metric()]
        });
        let mut best: Option<(i32, String)> = None;
        let mut errors = vec![];
        for metric in &metrics {
            match replicas_for_metric(metric, scale, usage, now) {
                Ok((replicas, status, label)) => {
                    metric_statuses.push(status);
                    if best.as_ref().is_none_or(|(r, _)| replicas > *r) {
                        best = Some((replicas, label));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let Some((proposed, label)) = best else {
            let (reason, message) = errors.first().cloned().unwrap_or_else(|| {
                (
                    "InvalidMetricSourceType",
                    "the HPA has no metrics bosun can compute".to_string(),
                )
            });
            conditions.set("ScalingActive", false, reason, &message);
            event(&mut out, EventType::Warning, reason, message);
            event(
                &mut out,
                EventType::Warning,
                "FailedComputeMetricsReplicas",
                "invalid metrics, first error is: failed to get the metrics".to_string(),
            );
            out.actions.push(status_action(
                ns,
                name,
                hpa,
                Some(current),
                Some(current),
                metric_statuses,
                &conditions,
                false,
                now,
            ));
            return Decision {
                reconcile: out,
                memory,
            };
        };
        conditions.set(
            "ScalingActive",
            true,
            "ValidMetricFound",
            &format!("the HPA was able to successfully calculate a replica count from {label}"),
        );
        let reason = if proposed > current {
            format!("{label} above target")
        } else {
            "All metrics below target".to_string()
        };
        let behavior = Behavior::of(hpa);
        let stabilized = stabilize(
            &behavior,
            &mut memory,
            current,
            proposed,
            now,
            &mut conditions,
        );
        let limited = limit_rate(
            &behavior,
            &memory,
            current,
            stabilized,
            min_replicas,
            max_replicas,
            now,
        );
        conditions.set(
            "ScalingLimited",
            limited.1 != "DesiredWithinRange",
            limited.1,
            limited.2,
        );
        (limited.0, reason)
    };

    let rescale = desired != current;
    if rescale {
        out.actions.push(Action::MergePatch {
            target: scale.target,
            namespace: Some(ns.to_string()),
            name: reference.map(|r| r.name.clone()).unwrap_or_default(),
            patch: json!({"spec": {"replicas": desired}}),
        });
        event(
            &mut out,
            EventType::Normal,
            "SuccessfulRescale",
            format!("New size: {desired}; reason: {reason}"),
        );
        memory.scale_events.push((now, desired - current));
        let longest = behavior_longest_period(&Behavior::of(hpa));
        memory
            .scale_events
            .retain(|(t, _)| *t + SignedDuration::from_secs(i64::from(longest)) > now);
    }
    out.actions.push(status_action(
        ns,
        name,
        hpa,
        Some(current),
        Some(desired),
        metric_statuses,
        &conditions,
        rescale,
        now,
    ));
    Decision {
        reconcile: out,
        memory,
    }
}

fn default_cpu_metric() -> MetricSpec {
    serde_json::from_value(json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}
    }))
    .unwrap_or_default()
}

/// (reason, message) of a metric that could not be computed.
type MetricError = (&'static str, String);

/// One Resource metric: the proposed replica count, its status entry, and how upstream names it
/// in messages ("cpu resource utilization (percentage of request)").
fn replicas_for_metric(
    metric: &MetricSpec,
    scale: &Scale<'_>,
    usage: Option<&BTreeMap<String, PodUsage>>,
    now: Timestamp,
) -> Result<(i32, Value, String), MetricError> {
    let Some(resource) = metric
        .resource
        .as_ref()
        .filter(|_| metric.type_ == "Resource")
    else {
        return Err((
            "InvalidMetricSourceType",
            format!(
                "the HPA was unable to compute the replica count: metric type {:?} is not supported by bosun (Resource only)",
                metric.type_
            ),
        ));
    };
    let name = resource.name.as_str();
    if name != "cpu" && name != "memory" {
        return Err((
            "FailedGetResourceMetric",
            format!(
                "the HPA was unable to compute the replica count: unsupported resource {name:?}"
            ),
        ));
    }
    let Some(usage) = usage else {
        return Err((
            "FailedGetResourceMetric",
            format!(
                "the HPA was unable to compute the replica count: failed to get {name} utilization: unable to get metrics for resource {name}: the metrics API did not answer"
            ),
        ));
    };
    let sample = |u: &PodUsage| {
        if name == "cpu" {
            u.milli_cpu
        } else {
            u.memory_bytes
        }
    };
    let groups = group_pods(&scale.pods, usage, name == "cpu", now);
    let mut metrics: BTreeMap<&str, i64> = groups
        .ready
        .iter()
        .filter_map(|p| usage.get(*p).map(|u| (*p, sample(u))))
        .collect();
    if metrics.is_empty() {
        return Err((
            "FailedGetResourceMetric",
            format!(
                "the HPA was unable to compute the replica count: failed to get {name} utilization: did not receive metrics for targeted pods (pods might be unready)"
            ),
        ));
    }
    let target = &resource.target;
    let current = scale.replicas;
    let ready_count = groups.ready.len() as f64;
    if target.type_ == "Utilization" {
        let target_util = i64::from(target.average_utilization.unwrap_or(80));
        let requests: BTreeMap<&str, i64> = scale
            .pods
            .iter()
            .filter_map(|p| {
                p.metadata
                    .name
                    .as_deref()
                    .map(|n| (n, pod_request(p, name)))
            })
            .collect();
        let ratio_of = |metrics: &BTreeMap<&str, i64>| -> Result<(f64, i64, i64), MetricError> {
            let (mut used, mut requested) = (0i64, 0i64);
            for (pod, value) in metrics {
                let req = requests.get(pod).copied().unwrap_or(0);
                if req <= 0 {
                    return Err((
                        "FailedGetResourceMetric",
                        format!(
                            "the HPA was unable to compute the replica count: failed to get {name} utilization: missing request for {name} in container of Pod {pod}"
                        ),
                    ));
                }
                used += value;
                requested += req;
            }
            let utilization = used * 100 / requested.max(1);
            Ok((
                utilization as f64 / target_util as f64,
                utilization,
                used / metrics.len().max(1) as i64,
            ))
        };
        let (ratio, utilization, raw) = ratio_of(&metrics)?;
        let status = resource_status(name, Some(utilization), raw);
        let label = format!("{name} resource utilization (percentage of request)");
        let scale_up_with_unready = !groups.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && groups.missing.is_empty() {
            if (1.0 - ratio).abs() <= TOLERANCE {
                return Ok((current, status, label));
            }
            return Ok(((ratio * ready_count).ceil() as i32, status, label));
        }
        for pod in &groups.missing {
            let fallback = if ratio < 1.0 {
                requests.get(pod).copied().unwrap_or(0) * target_util.max(100) / 100
            } else {
                0
            };
            if ratio != 1.0 {
                metrics.insert(pod, fallback);
            }
        }
        if scale_up_with_unready {
            for pod in &groups.unready {
                metrics.insert(pod, 0);
            }
        }
        let (new_ratio, _, _) = ratio_of(&metrics)?;
        Ok((
            rebalanced(current, ratio, new_ratio, metrics.len()),
            status,
            label,
        ))
    } else {
        let target_value = target
            .average_value
            .as_ref()
            .and_then(|q| {
                if name == "cpu" {
                    bosun_api::quantity::milli(&q.0)
                } else {
                    bosun_api::quantity::units(&q.0)
                }
            })
            .filter(|v| *v > 0)
            .ok_or_else(|| {
                (
                    "FailedGetResourceMetric",
                    format!("the HPA was unable to compute the replica count: {name} target has no averageValue"),
                )
            })?;
        let ratio_of = |metrics: &BTreeMap<&str, i64>| {
            let avg = metrics.values().sum::<i64>() / metrics.len().max(1) as i64;
            (avg as f64 / target_value as f64, avg)
        };
        let (ratio, avg) = ratio_of(&metrics);
        let status = resource_status(name, None, avg);
        let label = format!("{name} resource");
        let scale_up_with_unready = !groups.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && groups.missing.is_empty() {
            if (1.0 - ratio).abs() <= TOLERANCE {
                return Ok((current, status, label));
            }
            return Ok(((ratio * ready_count).ceil() as i32, status, label));
        }
        for pod in &groups.missing {
            if ratio != 1.0 {
                metrics.insert(pod, if ratio < 1.0 { target_value } else { 0 });
            }
        }
        if scale_up_with_unready {
            for pod in &groups.unready {
                metrics.insert(pod, 0);
            }
        }
        let (new_ratio, _) = ratio_of(&metrics);
        Ok((
            rebalanced(current, ratio, new_ratio, metrics.len()),
            status,
            label,
        ))
    }
}

/// With missing or unready pods filled in: keep the current count when the new ratio is within
/// tolerance or points the other way, or when the new count would move against the ratio.
fn rebalanced(current: i32, ratio: f64, new_ratio: f64, count: usize) -> i32 {
    if (1.0 - new_ratio).abs() <= TOLERANCE
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return current;
    }
    let replicas = (new_ratio * count as f64).ceil() as i32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return current;
    }
    replicas
}

fn resource_status(name: &str, utilization: Option<i64>, raw: i64) -> Value {
    let value = if name == "cpu" {
        format!("{raw}m")
    } else {
        raw.to_string()
    };
    let mut current = json!({"averageValue": value});
    if let Some(u) = utilization {
        current["averageUtilization"] = json!(u);
    }
    json!({"type": "Resource", "resource": {"name": name, "current": current}})
}

/// The sum of the pod's containers' requests for `resource` (millicores or bytes).
fn pod_request(pod: &Pod, resource: &str) -> i64 {
    pod.spec.as_ref().map_or(0, |s| {
        s.containers
            .iter()
            .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get(resource))
            .filter_map(|q| {
                if resource == "cpu" {
                    bosun_api::quantity::milli(&q.0)
                } else {
                    bosun_api::quantity::units(&q.0)
                }
            })
            .sum()
    })
}

#[derive(Debug, Default)]
struct PodGroups<'a> {
    ready: Vec<&'a str>,
    unready: Vec<&'a str>,
    missing: Vec<&'a str>,
}

/// Upstream's `groupPods`: deleted and failed pods are ignored, pending ones unready, pods
/// without a sample missing; for cpu, a pod still initializing whose sample predates readiness
/// is unready too.
fn group_pods<'a>(
    pods: &[&'a Pod],
    usage: &BTreeMap<String, PodUsage>,
    cpu: bool,
    now: Timestamp,
) -> PodGroups<'a> {
    let mut groups = PodGroups::default();
    for pod in pods {
        let Some(name) = pod.metadata.name.as_deref() else {
            continue;
        };
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
        if pod.metadata.deletion_timestamp.is_some() || phase == "Failed" || phase == "Succeeded" {
            continue;
        }
        if phase == "Pending" {
            groups.unready.push(name);
            continue;
        }
        let Some(sample) = usage.get(name) else {
            groups.missing.push(name);
            continue;
        };
        if cpu {
            let ready = status
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
            let started = status.and_then(|s| s.start_time.as_ref()).map(|t| t.0);
            let unready = match (ready, started) {
                (Some(cond), Some(start)) => {
                    let changed = cond
                        .last_transition_time
                        .as_ref()
                        .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
                    if start + CPU_INITIALIZATION_PERIOD > now {
                        cond.status == "False" || sample.timestamp < changed + sample.window
                    } else {
                        cond.status == "False" && start + INITIAL_READINESS_DELAY > changed
                    }
                }
                _ => true,
            };
            if unready {
                groups.unready.push(name);
                continue;
            }
        }
        groups.ready.push(name);
    }
    groups
}

/// `spec.behavior` with upstream's defaults filled in.
#[derive(Debug, Clone)]
struct Behavior {
    up: HPAScalingRules,
    down: HPAScalingRules,
}

impl Behavior {
    fn of(hpa: &HorizontalPodAutoscaler) -> Self {
        let given = hpa.spec.as_ref().and_then(|s| s.behavior.as_ref());
        let policy = |type_: &str, value: i32| HPAScalingPolicy {
            type_: type_.into(),
            value,
            period_seconds: 15,
        };
        let mut up = given.and_then(|b| b.scale_up.clone()).unwrap_or_default();
        if up.policies.as_ref().is_none_or(Vec::is_empty) {
            up.policies = Some(vec![policy("Pods", 4), policy("Percent", 100)]);
        }
        up.select_policy.get_or_insert_with(|| "Max".into());
        up.stabilization_window_seconds.get_or_insert(0);
        let mut down = given.and_then(|b| b.scale_down.clone()).unwrap_or_default();
        if down.policies.as_ref().is_none_or(Vec::is_empty) {
            down.policies = Some(vec![policy("Percent", 100)]);
        }
        down.select_policy.get_or_insert_with(|| "Max".into());
        down.stabilization_window_seconds
            .get_or_insert(DEFAULT_SCALE_DOWN_WINDOW);
        Self { up, down }
    }
}

fn behavior_longest_period(b: &Behavior) -> i32 {
    b.up.policies
        .iter()
        .chain(b.down.policies.iter())
        .flatten()
        .map(|p| p.period_seconds)
        .max()
        .unwrap_or(15)
}

/// The stabilization window: scaling up takes the lowest, scaling down the highest recommendation
/// of the window, so a brief dip or spike does not flap the replica count.
fn stabilize(
    behavior: &Behavior,
    memory: &mut Memory,
    current: i32,
    proposed: i32,
    now: Timestamp,
    conditions: &mut Conditions,
) -> i32 {
    let up_window = behavior.up.stabilization_window_seconds.unwrap_or(0);
    let down_window = behavior
        .down
        .stabilization_window_seconds
        .unwrap_or(DEFAULT_SCALE_DOWN_WINDOW);
    let (window, scaling_up) = if proposed >= current {
        (up_window, true)
    } else {
        (down_window, false)
    };
    let cutoff = now - SignedDuration::from_secs(i64::from(window));
    let obsolete = now - SignedDuration::from_secs(i64::from(up_window.max(down_window)));
    let mut recommendation = proposed;
    for (t, r) in &memory.recommendations {
        if *t > cutoff {
            recommendation = if scaling_up {
                recommendation.min(*r)
            } else {
                recommendation.max(*r)
            };
        }
    }
    memory.recommendations.retain(|(t, _)| *t >= obsolete);
    memory.recommendations.push((now, proposed));
    if recommendation != proposed {
        let (reason, message) = if scaling_up {
            (
                "ScaleUpStabilized",
                "recent recommendations were lower than current one, applying the lowest recent recommendation",
            )
        } else {
            (
                "ScaleDownStabilized",
                "recent recommendations were higher than current one, applying the highest recent recommendation",
            )
        };
        conditions.set("AbleToScale", true, reason, message);
    } else {
        conditions.set(
            "AbleToScale",
            true,
            "ReadyForNewScale",
            "recommended size matches current size",
        );
    }
    recommendation
}

/// Replicas added and removed within the last `period` seconds.
fn changes_within(memory: &Memory, period: i32, now: Timestamp) -> (i32, i32) {
    let since = now - SignedDuration::from_secs(i64::from(period));
    memory.scale_events.iter().filter(|(t, _)| *t > since).fold(
        (0, 0),
        |(up, down), (_, change)| {
            if *change > 0 {
                (up + change, down)
            } else {
                (up, down - change)
            }
        },
    )
}

/// The rate limits of `behavior` and min/max: (replicas, reason, message) as upstream words
/// the ScalingLimited condition.
fn limit_rate(
    behavior: &Behavior,
    memory: &Memory,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    now: Timestamp,
) -> (i32, &'static str, &'static str) {
    if desired > current {
        let rules = &behavior.up;
        let limit = if rules.select_policy.as_deref() == Some("Disabled") {
            current
        } else {
            let pick_min = rules.select_policy.as_deref() == Some("Min");
            let mut limit = if pick_min { i32::MAX } else { i32::MIN };
            for p in rules.policies.iter().flatten() {
                let (added, removed) = changes_within(memory, p.period_seconds, now);
                let start = current - added + removed;
                let proposed = if p.type_ == "Pods" {
                    start + p.value
                } else {
                    (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
                };
                limit = if pick_min {
                    limit.min(proposed)
                } else {
                    limit.max(proposed)
                };
            }
            limit.max(current)
        };
        let (allowed, reason, message) = if max > limit {
            (
                limit,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        } else {
            (
                max,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        };
        if desired > allowed {
            return (allowed, reason, message);
        }
    } else if desired < current {
        let rules = &behavior.down;
        let limit = if rules.select_policy.as_deref() == Some("Disabled") {
            current
        } else {
            let pick_min = rules.select_policy.as_deref() == Some("Min");
            let mut limit = if pick_min { i32::MIN } else { i32::MAX };
            for p in rules.policies.iter().flatten() {
                let (added, removed) = changes_within(memory, p.period_seconds, now);
                let start = current - added + removed;
                let proposed = if p.type_ == "Pods" {
                    start - p.value
                } else {
                    (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
                };
                limit = if pick_min {
                    limit.max(proposed)
                } else {
                    limit.min(proposed)
                };
            }
            limit.min(current)
        };
        let (allowed, reason, message) = if min < limit {
            (
                limit,
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        } else {
            (
                min,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        };
        if desired < allowed {
            return (allowed, reason, message);
        }
    }
    (
        desired,
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    )
}

/// The HPA's conditions, set as upstream's `setCondition` does.
#[derive(Debug, Default)]
struct Conditions(BTreeMap<&'static str, (bool, String, String)>);

impl Conditions {
    fn set(&mut self, type_: &'static str, status: bool, reason: &str, message: &str) {
        self.0
            .insert(type_, (status, reason.to_string(), message.to_string()));
    }
}

#[allow(clippy::too_many_arguments)]
fn status_action(
    ns: &str,
    name: &str,
    hpa: &HorizontalPodAutoscaler,
    current: Option<i32>,
    desired: Option<i32>,
    metrics: Vec<Value>,
    conditions: &Conditions,
    rescaled: bool,
    now: Timestamp,
) -> Action {
    let old = hpa.status.as_ref();
    let old_conditions: &[HorizontalPodAutoscalerCondition] =
        old.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    let conds: Vec<Value> = ["AbleToScale", "ScalingActive", "ScalingLimited"]
        .iter()
        .filter_map(|t| {
            let (status, reason, message) = conditions.0.get(t)?;
            let status = if *status { "True" } else { "False" };
            let since = old_conditions
                .iter()
                .find(|c| c.type_ == *t && c.status == status)
                .and_then(|c| c.last_transition_time.as_ref())
                .map_or(now, |t| t.0);
            Some(
                json!({"type": t, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": since.to_string()}),
            )
        })
        .collect();
    let last_scale = if rescaled {
        Some(now)
    } else {
        old.and_then(|s| s.last_scale_time.as_ref()).map(|t| t.0)
    };
    let mut status = json!({
        "currentReplicas": current.unwrap_or(0),
        "desiredReplicas": desired.unwrap_or(0),
        "currentMetrics": if metrics.is_empty() { Value::Null } else { Value::Array(metrics) },
        "conditions": conds,
        "observedGeneration": hpa.metadata.generation,
    });
    if let Some(t) = last_scale {
        status["lastScaleTime"] = json!(t.to_string());
    }
    Action::PatchStatus {
        target: HORIZONTAL_POD_AUTOSCALERS,
        namespace: Some(ns.to_string()),
        name: name.to_string(),
        status,
    }
}

#[cfg(test)]
mod tests;
