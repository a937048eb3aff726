//! The Job controller: run pods until `completions` succeed (NonIndexed or Indexed), at most
//! `parallelism` at a time; fail after `backoffLimit` failed pods or past
//! `activeDeadlineSeconds`; report the Complete / Failed conditions `kubectl wait` reads; delete
//! finished Jobs after `ttlSecondsAfterFinished`.

use crate::action::{Action, EventType, Reconcile, Target};
use crate::pod::Pod;
use crate::pod_state::{
    controller_owner_reference, is_controlled_by, is_pod_ready, object_reference, phase,
};
use crate::pod_template::{name_suffix, pod_from_template};
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// Back-off before re-creating pods after `failed` failures: 10 s doubling, at most 6 min.
pub fn backoff(failed: i32) -> Duration {
    if failed <= 0 {
        return Duration::ZERO;
    }
    (Duration::from_secs(10) * 2u32.saturating_pow((failed - 1).min(10) as u32))
        .min(Duration::from_secs(360))
}

fn condition(type_: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

fn finished_condition(job: &Job) -> Option<&JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

fn index_of(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX)?
        .parse()
        .ok()
}

/// `1,3-5` for the set {1,3,4,5}.
pub fn compress_indexes(set: &BTreeSet<i32>) -> String {
    let mut parts = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

/// Decide for one Job given every pod of its namespace.
pub fn reconcile(job: &Job, pods: &[&Pod], now: Timestamp) -> Reconcile {
    let mut out = Reconcile::default();
    let (Some(name), Some(uid), Some(ns)) = (
        job.metadata.name.as_deref(),
        job.metadata.uid.as_deref(),
        job.metadata.namespace.as_deref(),
    ) else {
        return out;
    };
    let Some(spec) = job.spec.as_ref() else {
        return out;
    };
    let reference = object_reference("batch/v1", "Job", &job.metadata);
    let mine: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| is_controlled_by(&p.metadata, uid))
        .collect();
    let active: Vec<&Pod> = mine
        .iter()
        .copied()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none() && !matches!(phase(p), "Succeeded" | "Failed")
        })
        .collect();
    let succeeded_pods: Vec<&Pod> = mine
        .iter()
        .copied()
        .filter(|p| phase(p) == "Succeeded")
        .collect();
    let failed = mine.iter().filter(|p| phase(p) == "Failed").count() as i32;
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let completions = spec.completions;
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let old_status = job.status.clone().unwrap_or_default();
    let start_time = old_status.start_time.clone().map_or(now, |t| t.0);
    let mut conditions = old_status.conditions.clone().unwrap_or_default();
    let mut completion_time = old_status.completion_time.clone();
    let succeeded_indexes: BTreeSet<i32> =
        succeeded_pods.iter().filter_map(|p| index_of(p)).collect();
    let succeeded = if indexed {
        succeeded_indexes.len() as i32
    } else {
        succeeded_pods.len() as i32
    };

    let delete_active = |out: &mut Reconcile| {
        for p in &active {
            out.actions.push(Action::Delete {
                target: Target::PODS,
                namespace: Some(ns.into()),
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone(),
                propagation: None,
            });
        }
    };

    if let Some(done) = finished_condition(job) {
        // Finished: only the TTL remains.
        if let (Some(ttl), Some(at)) = (
            spec.ttl_seconds_after_finished,
            done.last_transition_time.as_ref(),
        ) {
            let due = at.0 + SignedDuration::from_secs(i64::from(ttl.max(0)));
            if due <= now {
                out.actions.push(Action::Delete {
                    target: Target::JOBS,
                    namespace: Some(ns.into()),
                    name: name.into(),
                    uid: Some(uid.into()),
                    propagation: Some("Background"),
                });
            } else {
                out.requeue_at_most(
                    Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO)
                        + Duration::from_millis(100),
                );
            }
        }
        return out;
    }

    let complete = completions.map_or(succeeded > 0 && active.is_empty(), |c| succeeded >= c);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let deadline = spec
        .active_deadline_seconds
        .map(|s| start_time + SignedDuration::from_secs(s));
    if complete {
        delete_active(&mut out);
        conditions.push(condition(
            "SuccessCriteriaMet",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            now,
        ));
        conditions.push(condition(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            now,
        ));
        completion_time = Some(Time(now));
        out.actions.push(Action::Event {
            involved: reference.clone(),
            event_type: EventType::Normal,
            reason: "Completed".into(),
            message: "Job completed".into(),
        });
    } else if failed > backoff_limit {
        delete_active(&mut out);
        conditions.push(condition(
            "FailureTarget",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            now,
        ));
        conditions.push(condition(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            now,
        ));
        out.actions.push(Action::Event {
            involved: reference.clone(),
            event_type: EventType::Warning,
            reason: "BackoffLimitExceeded".into(),
            message: "Job has reached the specified backoff limit".into(),
        });
    } else if deadline.is_some_and(|d| d <= now) {
        delete_active(&mut out);
        conditions.push(condition(
            "FailureTarget",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
            now,
        ));
        conditions.push(condition(
            "Failed",
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
            now,
        ));
        out.actions.push(Action::Event {
            involved: reference.clone(),
            event_type: EventType::Warning,
            reason: "DeadlineExceeded".into(),
            message: "Job was active longer than specified deadline".into(),
        });
    } else if spec.suspend == Some(true) {
        delete_active(&mut out);
    } else {
        if let Some(d) = deadline {
            out.requeue_at_most(
                Duration::try_from(d.duration_since(now)).unwrap_or(Duration::ZERO)
                    + Duration::from_millis(100),
            );
        }
        // How many more pods to run now.
        let remaining = completions.map_or(parallelism, |c| (c - succeeded).max(0));
        let want = parallelism.min(remaining);
        let missing = (want - active.len() as i32).max(0) as usize;
        // Failures delay the next pods (back-off from the newest failure).
        let last_failure = mine
            .iter()
            .filter(|p| phase(p) == "Failed")
            .filter_map(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .map(|t| t.0)
            })
            .max();
        let wait_until = last_failure
            .map(|t| t + SignedDuration::try_from(backoff(failed)).unwrap_or(SignedDuration::ZERO));
        if missing > 0 && wait_until.is_some_and(|w| w > now) {
            out.requeue_at_most(
                Duration::try_from(
                    wait_until.map_or(SignedDuration::ZERO, |w| w.duration_since(now)),
                )
                .unwrap_or(Duration::ZERO),
            );
        } else if missing > 0 {
            let Some(owner) = controller_owner_reference("batch/v1", "Job", &job.metadata) else {
                return out;
            };
            let template = spec.template.clone();
            // Indexed: the lowest indexes neither succeeded nor running.
            let running_indexes: BTreeSet<i32> =
                active.iter().filter_map(|p| index_of(p)).collect();
            let free_indexes: Vec<i32> = (0..completions.unwrap_or(0))
                .filter(|i| !succeeded_indexes.contains(i) && !running_indexes.contains(i))
                .take(missing)
                .collect();
            let count = if indexed { free_indexes.len() } else { missing };
            for i in 0..count.min(500) {
                let pod_name = format!("{name}-{}", name_suffix(uid, now, i));
                let mut pod = pod_from_template(&template, &pod_name, ns, &owner);
                if indexed && let Some(index) = free_indexes.get(i).copied() {
                    pod["metadata"]["annotations"][COMPLETION_INDEX] = json!(index.to_string());
                    pod["metadata"]["labels"][COMPLETION_INDEX] = json!(index.to_string());
                    pod["spec"]["hostname"] = json!(format!("{name}-{index}"));
                }
                out.actions.push(Action::Create {
                    target: Target::PODS,
                    namespace: Some(ns.into()),
                    object: pod,
                });
                out.actions.push(Action::Event {
                    involved: reference.clone(),
                    event_type: EventType::Normal,
                    reason: "SuccessfulCreate".into(),
                    message: format!("Created pod: {pod_name}"),
                });
            }
        }
    }

    let ready = active.iter().filter(|p| is_pod_ready(p)).count();
    let finishing = out.actions.iter().any(|a| matches!(a, Action::Event { reason, .. } if reason == "Completed" || reason == "BackoffLimitExceeded" || reason == "DeadlineExceeded"));
    let mut status = json!({
        "startTime": Time(start_time),
        "active": if finishing { 0 } else { active.len() },
        "ready": if finishing { 0 } else { ready },
        "succeeded": succeeded,
        "failed": failed,
        "conditions": conditions,
        "completionTime": completion_time,
    });
    if indexed {
        status["completedIndexes"] = json!(compress_indexes(&succeeded_indexes));
    }
    let current = json!({
        "startTime": old_status.start_time,
        "active": old_status.active.unwrap_or(0),
        "ready": old_status.ready.unwrap_or(0),
        "succeeded": old_status.succeeded.unwrap_or(0),
        "failed": old_status.failed.unwrap_or(0),
        "conditions": old_status.conditions.unwrap_or_default(),
        "completionTime": old_status.completion_time,
    });
    let mut compare = status.clone();
    if let Some(m) = compare.as_object_mut() {
        m.remove("completedIndexes");
    }
    if compare != current
        || (indexed
            && old_status.completed_indexes.as_deref() != status["completedIndexes"].as_str())
    {
        out.actions.push(Action::PatchStatus {
            target: Target::JOBS,
            namespace: Some(ns.into()),
            name: name.into(),
            status,
        });
    }
    out
}

/// Whether a Job has finished (Complete or Failed).
pub fn is_finished(job: &Job) -> bool {
    finished_condition(job).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("time")
    }

    fn job(spec: Value) -> Job {
        let mut j = json!({
            "metadata": {"name": "pi", "namespace": "default", "uid": "job-uid"},
            "spec": {"template": {"metadata": {"labels": {"job-name": "pi"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}
        });
        if let (Some(s), Some(extra)) = (j["spec"].as_object_mut(), spec.as_object()) {
            for (k, v) in extra {
                s.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(j).expect("job")
    }

    fn pod(name: &str, phase: &str, index: Option<i32>) -> Pod {
        let mut p = json!({
            "metadata": {"name": name, "namespace": "default", "uid": name,
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "job-uid", "controller": true}]},
            "spec": {"containers": []},
            "status": {"phase": phase, "startTime": t(0).to_string()}
        });
        if let Some(i) = index {
            p["metadata"]["annotations"] = json!({COMPLETION_INDEX: i.to_string()});
        }
        serde_json::from_value(p).expect("pod")
    }

    fn creates(r: &Reconcile) -> Vec<Value> {
        r.actions
            .iter()
            .filter_map(|a| match a {
                Action::Create { object, .. } => Some(object.clone()),
                _ => None,
            })
            .collect()
    }

    fn status(r: &Reconcile) -> Value {
        r.actions
            .iter()
            .find_map(|a| match a {
                Action::PatchStatus { status, .. } => Some(status.clone()),
                _ => None,
            })
            .expect("status")
    }

    #[test]
    fn a_job_runs_parallelism_pods_until_completions_succeed() {
        let j = job(json!({"completions": 5, "parallelism": 2}));
        assert_eq!(creates(&reconcile(&j, &[], t(0))).len(), 2);
        let (a, b, c) = (
            pod("a", "Succeeded", None),
            pod("b", "Succeeded", None),
            pod("c", "Running", None),
        );
        assert_eq!(creates(&reconcile(&j, &[&a, &b, &c], t(10))).len(), 1);
        let done: Vec<Pod> = (0..5)
            .map(|i| pod(&format!("p{i}"), "Succeeded", None))
            .collect();
        let refs: Vec<&Pod> = done.iter().collect();
        let r = reconcile(&j, &refs, t(20));
        let s = status(&r);
        assert_eq!(s["succeeded"], 5);
        let types: Vec<&str> = s["conditions"]
            .as_array()
            .expect("c")
            .iter()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(types, vec!["SuccessCriteriaMet", "Complete"]);
        assert!(s["completionTime"].is_string());
    }

    #[test]
    fn too_many_failures_fail_the_job_and_failures_back_off() {
        let j = job(json!({"completions": 1, "backoffLimit": 1}));
        let f1 = pod("f1", "Failed", None);
        let r = reconcile(&j, &[&f1], t(5));
        assert!(
            creates(&r).is_empty(),
            "backing off 10 s after the first failure"
        );
        assert_eq!(r.requeue_after, Some(Duration::from_secs(5)));
        assert_eq!(creates(&reconcile(&j, &[&f1], t(10))).len(), 1);
        let f2 = pod("f2", "Failed", None);
        let s = status(&reconcile(&j, &[&f1, &f2], t(100)));
        assert!(
            s["conditions"]
                .as_array()
                .expect("c")
                .iter()
                .any(|c| c["type"] == "Failed" && c["reason"] == "BackoffLimitExceeded")
        );
        assert_eq!(backoff(3), Duration::from_secs(40));
        assert_eq!(backoff(20), Duration::from_secs(360));
    }

    #[test]
    fn an_active_deadline_fails_the_job_and_stops_its_pods() {
        let mut j = job(json!({"completions": 1, "activeDeadlineSeconds": 30}));
        j.status = serde_json::from_value(json!({"startTime": t(0).to_string()})).ok();
        let running = pod("r", "Running", None);
        let r = reconcile(&j, &[&running], t(31));
        assert!(
            r.actions
                .iter()
                .any(|a| matches!(a, Action::Delete { name, .. } if name == "r"))
        );
        assert!(
            status(&r)["conditions"]
                .as_array()
                .expect("c")
                .iter()
                .any(|c| c["reason"] == "DeadlineExceeded")
        );
    }

    #[test]
    fn indexed_jobs_run_each_missing_index_once() {
        let j = job(json!({"completions": 4, "parallelism": 4, "completionMode": "Indexed"}));
        let (p0, p2) = (
            pod("p0", "Succeeded", Some(0)),
            pod("p2", "Running", Some(2)),
        );
        let made = creates(&reconcile(&j, &[&p0, &p2], t(0)));
        let indexes: Vec<&str> = made
            .iter()
            .filter_map(|p| p["metadata"]["annotations"][COMPLETION_INDEX].as_str())
            .collect();
        assert_eq!(indexes, vec!["1", "3"]);
        assert_eq!(made[0]["spec"]["hostname"], "pi-1");
        assert_eq!(
            compress_indexes(&BTreeSet::from([0, 1, 2, 5, 7, 8])),
            "0-2,5,7-8"
        );
    }

    #[test]
    fn finished_jobs_are_deleted_after_their_ttl() {
        let mut j = job(json!({"ttlSecondsAfterFinished": 60}));
        j.status = serde_json::from_value(json!({"conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": t(0).to_string()}]})).ok();
        let r = reconcile(&j, &[], t(30));
        assert!(r.actions.is_empty());
        assert_eq!(
            r.requeue_after,
            Some(Duration::from_secs(30) + Duration::from_millis(100))
        );
        assert!(
            matches!(&reconcile(&j, &[], t(61)).actions[..], [Action::Delete { target, .. }] if *target == Target::JOBS)
        );
    }
}
