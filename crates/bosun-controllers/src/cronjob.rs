//! The CronJob controller: create a Job for the most recent missed schedule time (within
//! `startingDeadlineSeconds`), honouring `concurrencyPolicy` and `suspend`, keep the history
//! limits, and report `active`, `lastScheduleTime` and `lastSuccessfulTime`.

use crate::action::{Action, EventType, Reconcile, Target};
use crate::cron::Schedule;
use crate::job::is_finished;
use crate::pod_state::{controller_owner_reference, is_controlled_by, object_reference};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::time::Duration;

pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

fn succeeded(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
        })
}

fn warn(out: &mut Reconcile, cj: &CronJob, reason: &str, message: String) {
    out.actions.push(Action::Event {
        involved: object_reference("batch/v1", "CronJob", &cj.metadata),
        event_type: EventType::Warning,
        reason: reason.into(),
        message,
    });
}

/// Decide for one CronJob given the Jobs of its namespace.
pub fn reconcile(cj: &CronJob, jobs: &[&Job], now: Timestamp) -> Reconcile {
    let mut out = Reconcile::default();
    let (Some(name), Some(uid), Some(ns)) = (
        cj.metadata.name.as_deref(),
        cj.metadata.uid.as_deref(),
        cj.metadata.namespace.as_deref(),
    ) else {
        return out;
    };
    let Some(spec) = cj.spec.as_ref() else {
        return out;
    };
    if cj.metadata.deletion_timestamp.is_some() {
        return out;
    }
    let mut mine: Vec<&Job> = jobs
        .iter()
        .copied()
        .filter(|j| is_controlled_by(&j.metadata, uid))
        .collect();
    mine.sort_by_key(|j| j.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let active: Vec<&Job> = mine
        .iter()
        .copied()
        .filter(|j| !is_finished(j) && j.metadata.deletion_timestamp.is_none())
        .collect();

    // History limits: the oldest finished Jobs beyond them go.
    for (want_success, limit) in [
        (true, spec.successful_jobs_history_limit.unwrap_or(3)),
        (false, spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let done: Vec<&Job> = mine
            .iter()
            .copied()
            .filter(|j| is_finished(j) && succeeded(j) == want_success)
            .collect();
        let excess = done
            .len()
            .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
        for j in done.into_iter().take(excess) {
            out.actions.push(Action::Delete {
                target: Target::JOBS,
                namespace: Some(ns.into()),
                name: j.metadata.name.clone().unwrap_or_default(),
                uid: j.metadata.uid.clone(),
                propagation: Some("Background"),
            });
        }
    }

    let old_status = cj.status.clone().unwrap_or_default();
    let mut last_schedule = old_status.last_schedule_time.clone().map(|t| t.0);
    let last_success = mine
        .iter()
        .filter(|j| succeeded(j))
        .filter_map(|j| {
            j.status
                .as_ref()
                .and_then(|s| s.completion_time.as_ref())
                .map(|t| t.0)
        })
        .max()
        .or(old_status.last_successful_time.clone().map(|t| t.0));
    let mut active_refs: Vec<_> = active
        .iter()
        .map(|j| object_reference("batch/v1", "Job", &j.metadata))
        .collect();

    let schedule = match Schedule::parse(&spec.schedule) {
        Ok(s) => Some(s),
        Err(e) => {
            warn(&mut out, cj, "InvalidSchedule", e.to_string());
            None
        }
    };
    let tz = match spec.time_zone.as_deref() {
        None => Some(TimeZone::UTC),
        Some(name) => match TimeZone::get(name) {
            Ok(tz) => Some(tz),
            Err(_) => {
                warn(
                    &mut out,
                    cj,
                    "UnknownTimeZone",
                    format!("invalid timeZone: {name:?}"),
                );
                None
            }
        },
    };
    if let (Some(schedule), Some(tz), false) = (schedule, tz, spec.suspend == Some(true)) {
        // The most recent schedule time not yet run, since the last run (or creation).
        let since = last_schedule
            .or(cj.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .unwrap_or(now);
        let mut due: Option<Timestamp> = None;
        let mut cursor = since;
        let mut missed = 0;
        while let Some(t) = schedule.next_after(cursor, &tz) {
            if t > now {
                break;
            }
            due = Some(t);
            cursor = t;
            missed += 1;
            if missed > 100 {
                // Too many missed runs (as upstream, only the most recent matters): skip
                // ahead to the last day before now.
                cursor = (now - SignedDuration::from_secs(60 * 60 * 24)).max(t);
            }
        }
        let too_late = |t: Timestamp| {
            spec.starting_deadline_seconds
                .is_some_and(|d| t + SignedDuration::from_secs(d) < now)
        };
        if let Some(t) = due.filter(|t| !too_late(*t)) {
            let job_name = format!("{name}-{}", t.as_second() / 60);
            let exists = mine
                .iter()
                .any(|j| j.metadata.name.as_deref() == Some(job_name.as_str()));
            let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
            if exists {
                last_schedule = Some(t);
            } else if policy == "Forbid" && !active.is_empty() {
                // Skipped this time; the next schedule will try again.
            } else {
                if policy == "Replace" {
                    for j in &active {
                        out.actions.push(Action::Delete {
                            target: Target::JOBS,
                            namespace: Some(ns.into()),
                            name: j.metadata.name.clone().unwrap_or_default(),
                            uid: j.metadata.uid.clone(),
                            propagation: Some("Background"),
                        });
                    }
                    active_refs.clear();
                }
                if let Some(owner) = controller_owner_reference("batch/v1", "CronJob", &cj.metadata)
                {
                    let template = spec.job_template.clone();
                    let meta = template.metadata.clone().unwrap_or_default();
                    let mut annotations = meta.annotations.clone().unwrap_or_default();
                    annotations.insert(SCHEDULED_TIMESTAMP.into(), t.to_string());
                    out.actions.push(Action::Create {
                        target: Target::JOBS,
                        namespace: Some(ns.into()),
                        object: json!({
                            "apiVersion": "batch/v1",
                            "kind": "Job",
                            "metadata": {
                                "name": job_name,
                                "namespace": ns,
                                "labels": meta.labels,
                                "annotations": annotations,
                                "ownerReferences": [owner],
                            },
                            "spec": template.spec,
                        }),
                    });
                    out.actions.push(Action::Event {
                        involved: object_reference("batch/v1", "CronJob", &cj.metadata),
                        event_type: EventType::Normal,
                        reason: "SuccessfulCreate".into(),
                        message: format!("Created job {job_name}"),
                    });
                    active_refs.push(k8s_openapi::api::core::v1::ObjectReference {
                        api_version: Some("batch/v1".into()),
                        kind: Some("Job".into()),
                        name: Some(job_name),
                        namespace: Some(ns.into()),
                        ..Default::default()
                    });
                    last_schedule = Some(t);
                }
            }
        } else if let Some(t) = due {
            last_schedule = Some(t);
            warn(
                &mut out,
                cj,
                "MissSchedule",
                format!("Missed scheduled time to start a job: {t}"),
            );
        }
        if let Some(next) = schedule.next_after(now, &tz) {
            out.requeue_at_most(
                Duration::try_from(next.duration_since(now)).unwrap_or(Duration::ZERO)
                    + Duration::from_millis(200),
            );
        }
    }

    let status = json!({
        "active": active_refs,
        "lastScheduleTime": last_schedule.map(Time),
        "lastSuccessfulTime": last_success.map(Time),
    });
    let current = json!({
        "active": old_status.active.unwrap_or_default(),
        "lastScheduleTime": old_status.last_schedule_time,
        "lastSuccessfulTime": old_status.last_successful_time,
    });
    if status != current {
        out.actions.push(Action::PatchStatus {
            target: Target::CRONJOBS,
            namespace: Some(ns.into()),
            name: name.into(),
            status,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn cronjob(extra: Value) -> CronJob {
        let mut c = json!({
            "metadata": {"name": "tick", "namespace": "default", "uid": "cj-uid", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {
                "schedule": "*/5 * * * *",
                "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}
            }
        });
        if let (Some(spec), Some(extra)) = (c["spec"].as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                spec.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(c).expect("cronjob")
    }

    fn job(name: &str, finished: Option<bool>) -> Job {
        let mut j = json!({
            "metadata": {"name": name, "namespace": "default", "uid": name, "creationTimestamp": "2026-01-01T00:00:00Z",
                          "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "tick", "uid": "cj-uid", "controller": true}]},
            "spec": {"template": {"spec": {"containers": []}}}
        });
        if let Some(ok) = finished {
            j["status"] = json!({"conditions": [{"type": if ok { "Complete" } else { "Failed" }, "status": "True"}], "completionTime": "2026-01-01T00:01:00Z"});
        }
        serde_json::from_value(j).expect("job")
    }

    fn created(r: &Reconcile) -> Vec<String> {
        r.actions
            .iter()
            .filter_map(|a| match a {
                Action::Create { object, .. } => {
                    object["metadata"]["name"].as_str().map(str::to_string)
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_most_recent_schedule_time_gets_a_job_named_after_it() {
        let r = reconcile(&cronjob(json!({})), &[], ts("2026-01-01T00:12:00Z"));
        let minutes = ts("2026-01-01T00:10:00Z").as_second() / 60;
        assert_eq!(created(&r), vec![format!("tick-{minutes}")]);
        assert_eq!(
            r.requeue_after,
            Some(Duration::from_secs(180) + Duration::from_millis(200))
        );
        let Some(Action::Create { object, .. }) = r
            .actions
            .iter()
            .find(|a| matches!(a, Action::Create { .. }))
        else {
            panic!()
        };
        assert_eq!(
            object["metadata"]["annotations"][SCHEDULED_TIMESTAMP],
            "2026-01-01T00:10:00Z"
        );
    }

    #[test]
    fn concurrency_policies_decide_what_happens_to_a_running_job() {
        let running = job("old", None);
        let now = ts("2026-01-01T00:12:00Z");
        assert_eq!(
            created(&reconcile(
                &cronjob(json!({"concurrencyPolicy": "Allow"})),
                &[&running],
                now
            ))
            .len(),
            1
        );
        assert!(
            created(&reconcile(
                &cronjob(json!({"concurrencyPolicy": "Forbid"})),
                &[&running],
                now
            ))
            .is_empty()
        );
        let r = reconcile(
            &cronjob(json!({"concurrencyPolicy": "Replace"})),
            &[&running],
            now,
        );
        assert!(
            r.actions
                .iter()
                .any(|a| matches!(a, Action::Delete { name, .. } if name == "old"))
        );
        assert_eq!(created(&r).len(), 1);
    }

    #[test]
    fn suspend_deadlines_and_bad_schedules() {
        let now = ts("2026-01-01T00:12:00Z");
        assert!(created(&reconcile(&cronjob(json!({"suspend": true})), &[], now)).is_empty());
        assert!(
            created(&reconcile(
                &cronjob(json!({"startingDeadlineSeconds": 60})),
                &[],
                now
            ))
            .is_empty(),
            "00:10 is 120 s ago"
        );
        let r = reconcile(&cronjob(json!({"schedule": "not a schedule"})), &[], now);
        assert!(
            r.actions
                .iter()
                .any(|a| matches!(a, Action::Event { reason, .. } if reason == "InvalidSchedule"))
        );
        let r = reconcile(&cronjob(json!({"timeZone": "Mars/Olympus"})), &[], now);
        assert!(
            r.actions
                .iter()
                .any(|a| matches!(a, Action::Event { reason, .. } if reason == "UnknownTimeZone"))
        );
    }

    #[test]
    fn history_limits_delete_the_oldest_finished_jobs() {
        let jobs: Vec<Job> = (0..5)
            .map(|i| job(&format!("ok{i}"), Some(true)))
            .chain((0..2).map(|i| job(&format!("bad{i}"), Some(false))))
            .collect();
        let refs: Vec<&Job> = jobs.iter().collect();
        let r = reconcile(
            &cronjob(json!({"suspend": true})),
            &refs,
            ts("2026-01-01T00:12:00Z"),
        );
        let deleted: Vec<String> = r
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Delete { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, vec!["ok0", "ok1", "bad0"]);
    }
}
