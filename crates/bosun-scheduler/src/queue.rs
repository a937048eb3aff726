//! The scheduling queue, pure: pods waiting for a node, ordered by priority then age; pods
//! that failed wait out a back-off (1 s doubling to 10 s); pods that fit nowhere wait in the
//! unschedulable pool until a change that could help (or 5 minutes) moves them back.

use k8s_openapi::api::core::v1::Pod;
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
pub const UNSCHEDULABLE_FLUSH: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
    /// Popped and being scheduled.
    InFlight,
}

#[derive(Debug)]
struct Queued {
    pod: Arc<Pod>,
    attempts: u32,
    at: Where,
    order: Order,
}

/// Queue order: higher priority first, then older, then first queued.
type Order = (Reverse<i32>, i64, u64);

/// The queue. Pods are keyed by uid.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    pods: HashMap<String, Queued>,
    active: BTreeSet<(Order, String)>,
    /// Pods in back-off or parked, by when they become active on their own.
    waiting: BTreeSet<(Instant, String)>,
    seq: u64,
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

fn created(pod: &Pod) -> i64 {
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_second())
}

impl SchedulingQueue {
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    fn wake_time(at: Where) -> Option<Instant> {
        match at {
            Where::Backoff(until) => Some(until),
            Where::Unschedulable(since) => Some(since + UNSCHEDULABLE_FLUSH),
            _ => None,
        }
    }

    /// Move a pod to `at`, keeping the indexes true.
    fn place(&mut self, uid: &str, at: Where) {
        let Some(q) = self.pods.get_mut(uid) else {
            return;
        };
        if let Some(t) = Self::wake_time(q.at) {
            self.waiting.remove(&(t, uid.to_string()));
        }
        if q.at == Where::Active {
            self.active.remove(&(q.order, uid.to_string()));
        }
        q.at = at;
        if let Some(t) = Self::wake_time(at) {
            self.waiting.insert((t, uid.to_string()));
        }
        if at == Where::Active {
            self.active.insert((q.order, uid.to_string()));
        }
    }

    fn activate(&mut self, uid: &str) {
        self.place(uid, Where::Active);
    }

    /// Add a pod waiting for a node, or update the one queued (a changed pod gets another
    /// chance at once unless it is in flight).
    pub fn add_or_update(&mut self, pod: Arc<Pod>) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        match self.pods.get_mut(&uid) {
            Some(q) => {
                q.pod = pod;
                if matches!(q.at, Where::Unschedulable(_)) {
                    self.activate(&uid);
                }
            }
            None => {
                self.seq += 1;
                let order = (Reverse(priority(&pod)), created(&pod), self.seq);
                self.pods.insert(
                    uid.clone(),
                    Queued {
                        pod,
                        attempts: 0,
                        at: Where::Active,
                        order,
                    },
                );
                self.active.insert((order, uid));
            }
        }
    }

    /// Forget a pod (bound, deleted, or no longer ours).
    pub fn delete(&mut self, uid: &str) {
        self.place(uid, Where::InFlight);
        self.pods.remove(uid);
    }

    /// The next pod to schedule: the highest priority, then the oldest.
    pub fn pop(&mut self, now: Instant) -> Option<Arc<Pod>> {
        self.promote(now);
        let (_, uid) = self.active.first()?.clone();
        self.place(&uid, Where::InFlight);
        let q = self.pods.get_mut(&uid)?;
        q.attempts += 1;
        Some(q.pod.clone())
    }

    /// Back-offs that ended and unschedulable pods waiting too long become active.
    fn promote(&mut self, now: Instant) {
        while let Some((at, uid)) = self.waiting.first().cloned() {
            if at > now {
                break;
            }
            self.activate(&uid);
        }
    }

    fn backoff(attempts: u32) -> Duration {
        (INITIAL_BACKOFF * 2u32.saturating_pow(attempts.saturating_sub(1).min(10))).min(MAX_BACKOFF)
    }

    /// A scheduling attempt failed for a transient reason (a binding error): retry after
    /// back-off.
    pub fn requeue_with_backoff(&mut self, uid: &str, now: Instant) {
        if let Some(attempts) = self.pods.get(uid).map(|q| q.attempts) {
            self.place(uid, Where::Backoff(now + Self::backoff(attempts)));
        }
    }

    /// The pod fits nowhere: park it until a change could help.
    pub fn mark_unschedulable(&mut self, uid: &str, now: Instant) {
        if self.pods.contains_key(uid) {
            self.place(uid, Where::Unschedulable(now));
        }
    }

    /// A change that could help (a node added or changed, a pod deleted): unschedulable pods
    /// try again, after their back-off.
    pub fn move_all_to_active(&mut self, now: Instant) {
        let parked: Vec<(String, u32)> = self
            .pods
            .iter()
            .filter(|(_, q)| matches!(q.at, Where::Unschedulable(_)))
            .map(|(uid, q)| (uid.clone(), q.attempts))
            .collect();
        for (uid, attempts) in parked {
            self.place(
                &uid,
                Where::Backoff(now + Self::backoff(attempts).min(INITIAL_BACKOFF)),
            );
        }
    }

    /// When the next back-off ends, if any pod waits on one.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.waiting.first().map(|(at, _)| *at)
    }

    /// Pods ready to pop now.
    pub fn active_len(&self) -> usize {
        self.active.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, priority: i32, created: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": uid, "uid": uid, "creationTimestamp": created},
                "spec": {"priority": priority, "containers": []}
            }))
            .expect("pod"),
        )
    }

    fn uid(p: Option<Arc<Pod>>) -> Option<String> {
        p.and_then(|p| p.metadata.uid.clone())
    }

    #[test]
    fn higher_priority_then_older_pods_come_first() {
        let mut q = SchedulingQueue::default();
        let now = Instant::now();
        q.add_or_update(pod("young", 0, "2026-01-01T00:00:10Z"));
        q.add_or_update(pod("old", 0, "2026-01-01T00:00:00Z"));
        q.add_or_update(pod("vip", 100, "2026-01-01T00:00:20Z"));
        assert_eq!(uid(q.pop(now)).as_deref(), Some("vip"));
        assert_eq!(uid(q.pop(now)).as_deref(), Some("old"));
        assert_eq!(uid(q.pop(now)).as_deref(), Some("young"));
        assert!(q.pop(now).is_none());
    }

    #[test]
    fn failed_pods_back_off_doubling_to_ten_seconds() {
        let mut q = SchedulingQueue::default();
        let t0 = Instant::now();
        q.add_or_update(pod("p", 0, "2026-01-01T00:00:00Z"));
        for (attempt, wait) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (6, 10)] {
            let popped = q.pop(t0 + Duration::from_secs(100 * attempt));
            assert!(popped.is_some(), "attempt {attempt}");
            let failed_at = t0 + Duration::from_secs(100 * attempt);
            q.requeue_with_backoff("p", failed_at);
            assert!(
                q.pop(failed_at + Duration::from_secs(wait) - Duration::from_millis(1))
                    .is_none()
            );
            assert_eq!(q.next_wakeup(), Some(failed_at + Duration::from_secs(wait)));
        }
    }

    #[test]
    fn unschedulable_pods_wait_for_a_change_or_five_minutes() {
        let mut q = SchedulingQueue::default();
        let t0 = Instant::now();
        q.add_or_update(pod("p", 0, "2026-01-01T00:00:00Z"));
        assert!(q.pop(t0).is_some());
        q.mark_unschedulable("p", t0);
        assert!(q.pop(t0 + Duration::from_secs(60)).is_none());
        q.move_all_to_active(t0 + Duration::from_secs(60));
        assert!(q.pop(t0 + Duration::from_secs(61)).is_some());
        q.mark_unschedulable("p", t0 + Duration::from_secs(61));
        assert!(
            q.pop(t0 + Duration::from_secs(61) + UNSCHEDULABLE_FLUSH)
                .is_some()
        );
        q.delete("p");
        assert!(q.is_empty());
    }
}
