//! The manager: one work queue per controller, fed by [`Change`]s; keys are reconciled one at
//! a time each (several keys at once), with expectations so that a controller does not act
//! again on pods it has just created or deleted before its cache has seen them.

use crate::caches::{Caches, Change};
use crate::events::{self, EventCorrelator, EventIn};
use crate::executor::{self, ExecError};
use bosun_controllers::{Action, Reconcile, Target};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A controller as the manager runs it: which keys a change concerns, and the decision for a
/// key (None when the object is gone).
pub trait Controller: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// The kind of owner whose pods this controller creates (for expectations).
    fn pod_owner_kind(&self) -> Option<&'static str> {
        None
    }
    /// Keys to reconcile once the caches are synced, whatever changes (periodic work).
    fn initial_keys(&self) -> Vec<String> {
        Vec::new()
    }
    fn keys_for(&self, change: &Change, caches: &Caches) -> Vec<String>;
    fn reconcile(&self, key: &str, caches: &Caches, now: Timestamp) -> Option<Reconcile>;
}

/// Pods a controller has asked for and not yet seen appear or go.
#[derive(Debug, Default)]
pub struct Expectations {
    pending: HashMap<(usize, String), Pending>,
}

#[derive(Debug)]
struct Pending {
    creates: usize,
    deletes: HashSet<String>,
    since: Instant,
}

/// After this long, expectations are dropped (something was missed).
const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(30);

impl Expectations {
    pub fn expect(
        &mut self,
        controller: usize,
        key: &str,
        creates: usize,
        deletes: HashSet<String>,
    ) {
        if creates == 0 && deletes.is_empty() {
            return;
        }
        let p = self
            .pending
            .entry((controller, key.to_string()))
            .or_insert(Pending {
                creates: 0,
                deletes: HashSet::new(),
                since: Instant::now(),
            });
        p.creates += creates;
        p.deletes.extend(deletes);
        p.since = Instant::now();
    }

    pub fn created(&mut self, controller: usize, key: &str) {
        if let Some(p) = self.pending.get_mut(&(controller, key.to_string())) {
            p.creates = p.creates.saturating_sub(1);
        }
    }

    pub fn deleted(&mut self, controller: usize, key: &str, uid: &str) {
        if let Some(p) = self.pending.get_mut(&(controller, key.to_string())) {
            p.deletes.remove(uid);
        }
    }

    /// Nothing is pending (or it timed out).
    pub fn satisfied(&mut self, controller: usize, key: &str) -> bool {
        let k = (controller, key.to_string());
        match self.pending.get(&k) {
            None => true,
            Some(p)
                if (p.creates == 0 && p.deletes.is_empty())
                    || p.since.elapsed() > EXPECTATION_TIMEOUT =>
            {
                self.pending.remove(&k);
                true
            }
            Some(_) => false,
        }
    }
}

struct Done {
    controller: usize,
    key: String,
    requeue: Option<Duration>,
    errors: usize,
    failed_creates: usize,
    failed_deletes: Vec<String>,
}

/// How the manager runs.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// How many keys are reconciled at once.
    pub concurrency: usize,
    /// How many actions of one reconcile run at once (pod creates and deletes).
    pub burst: usize,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            burst: 64,
        }
    }
}

/// Run the controllers until `stop`.
pub async fn run(
    client: kube::Client,
    controllers: Vec<Arc<dyn Controller>>,
    config: ManagerConfig,
    stop: CancellationToken,
) {
    let (tx, mut changes) = mpsc::unbounded_channel();
    let caches = Caches::start(&client, tx, &stop);
    tokio::select! {
        _ = stop.cancelled() => return,
        _ = caches.ready() => {}
    }
    tracing::info!(
        controllers = controllers.len(),
        "caches synced; controllers running"
    );
    let autoscaler = tokio::spawn(crate::autoscaler::run(
        client.clone(),
        caches.clone(),
        stop.child_token(),
    ));
    let mut due: HashMap<(usize, String), Instant> = HashMap::new();
    for (i, c) in controllers.iter().enumerate() {
        for key in c.initial_keys() {
            due.insert((i, key), Instant::now());
        }
    }
    let mut in_flight: HashSet<(usize, String)> = HashSet::new();
    let mut dirty_while_running: HashSet<(usize, String)> = HashSet::new();
    let mut failures: HashMap<(usize, String), u32> = HashMap::new();
    let mut expectations = Expectations::default();
    let mut known_pods: HashSet<String> = HashSet::new();
    let correlator = Arc::new(Mutex::new(EventCorrelator::default()));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(change) = changes.recv() => {
                let mut batch = vec![change];
                while let Ok(more) = changes.try_recv() {
                    batch.push(more);
                    if batch.len() >= 4096 { break; }
                }
                for change in batch {
                    observe_pod(&change, &controllers, &mut expectations, &mut known_pods);
                    for (i, c) in controllers.iter().enumerate() {
                        for key in c.keys_for(&change, &caches) {
                            let k = (i, key);
                            if in_flight.contains(&k) {
                                dirty_while_running.insert(k);
                            } else {
                                due.insert(k, Instant::now());
                            }
                        }
                    }
                }
            }
            Some(done) = done_rx.recv() => {
                let k = (done.controller, done.key.clone());
                in_flight.remove(&k);
                if done.errors > 0 {
                    *failures.entry(k.clone()).or_insert(0) += 1;
                } else {
                    failures.remove(&k);
                }
                for _ in 0..done.failed_creates {
                    expectations.created(done.controller, &done.key);
                }
                for uid in &done.failed_deletes {
                    expectations.deleted(done.controller, &done.key, uid);
                }
                if dirty_while_running.remove(&k) {
                    due.insert(k.clone(), Instant::now());
                }
                if let Some(after) = done.requeue {
                    let at = Instant::now() + after;
                    let e = due.entry(k).or_insert(at);
                    if at < *e { *e = at; }
                }
            }
            _ = tick.tick() => {}
        }
        // Dispatch what is due.
        let now = Instant::now();
        let ready: Vec<(usize, String)> = due
            .iter()
            .filter(|(k, at)| **at <= now && !in_flight.contains(*k))
            .map(|(k, _)| k.clone())
            .take(config.concurrency.saturating_sub(in_flight.len()))
            .collect();
        for k in ready {
            if !expectations.satisfied(k.0, &k.1) {
                // Look again shortly: the cache has not caught up with our own writes.
                due.insert(k, now + Duration::from_millis(100));
                continue;
            }
            due.remove(&k);
            let controller = controllers[k.0].clone();
            let decision = match decide(controller.as_ref(), &k.1, &caches, Timestamp::now()) {
                Ok(Some(decision)) => decision,
                Ok(None) => {
                    failures.remove(&k);
                    continue;
                }
                Err(panic) => {
                    // A bug or an object nobody foresaw: this key waits, the others go on.
                    let attempt = failures.entry(k.clone()).or_insert(0);
                    *attempt += 1;
                    tracing::error!(controller = controller.name(), key = %k.1, %panic, "reconcile panicked; retrying with back-off");
                    due.insert(k, now + backoff(*attempt));
                    continue;
                }
            };
            let (creates, deletes) = pod_writes(&decision.actions);
            expectations.expect(k.0, &k.1, creates, deletes);
            in_flight.insert(k.clone());
            let attempt = failures.get(&k).copied().unwrap_or(0);
            let client = client.clone();
            let done_tx = done_tx.clone();
            let correlator = correlator.clone();
            let burst = config.burst;
            let name = controller.name();
            let span = tracing::debug_span!("reconcile", controller = name, key = %k.1);
            tokio::spawn(tracing::Instrument::instrument(
                async move {
                    let outcome = perform(&client, &decision, burst, name, &correlator).await;
                    let requeue = if outcome.errors > 0 {
                        Some(backoff(attempt))
                    } else if outcome.failed_creates > 0 {
                        // Names taken: the next reconcile creates the missing pods.
                        Some(Duration::from_millis(100))
                    } else {
                        decision.requeue_after
                    };
                    let _ = done_tx.send(Done {
                        controller: k.0,
                        key: k.1,
                        requeue,
                        errors: outcome.errors,
                        failed_creates: outcome.failed_creates,
                        failed_deletes: outcome.failed_deletes,
                    });
                },
                span,
            ));
        }
    }
    let _ = autoscaler.await;
}

/// Retry with back-off: 0.5 s doubling to a minute.
fn backoff(attempt: u32) -> Duration {
    (Duration::from_millis(500) * 2u32.saturating_pow(attempt.min(7))).min(Duration::from_secs(60))
}

/// A controller's decision for a key; a panic in it is caught and returned as its message,
/// so one bad object cannot stop the manager.
pub fn decide(
    controller: &dyn Controller,
    key: &str,
    caches: &Caches,
    now: Timestamp,
) -> Result<Option<Reconcile>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        controller.reconcile(key, caches, now)
    }))
    .map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into())
    })
}

/// Pod creates and deletes in a decision, for expectations.
fn pod_writes(actions: &[Action]) -> (usize, HashSet<String>) {
    let mut creates = 0;
    let mut deletes = HashSet::new();
    for a in actions {
        match a {
            Action::Create { target, .. } if *target == Target::PODS => creates += 1,
            Action::Delete {
                target,
                uid: Some(uid),
                ..
            } if *target == Target::PODS => {
                deletes.insert(uid.clone());
            }
            _ => {}
        }
    }
    (creates, deletes)
}

fn observe_pod(
    change: &Change,
    controllers: &[Arc<dyn Controller>],
    expectations: &mut Expectations,
    known: &mut HashSet<String>,
) {
    if change.kind != "Pod" {
        return;
    }
    let added = !change.deleted && known.insert(change.uid.clone());
    let gone = change.deleted || change.terminating;
    if change.deleted {
        known.remove(&change.uid);
    }
    for (i, c) in controllers.iter().enumerate() {
        let Some(kind) = c.pod_owner_kind() else {
            continue;
        };
        let Some(owner) = change.owner_key(kind) else {
            continue;
        };
        if added {
            expectations.created(i, &owner);
        }
        if gone {
            expectations.deleted(i, &owner, &change.uid);
        }
    }
}

struct Outcome {
    errors: usize,
    failed_creates: usize,
    failed_deletes: Vec<String>,
}

/// The kind of run an action may be sent in concurrently with its neighbours of the same
/// kind: pod creates and deletes (1), or Events (2), which depend on nothing but themselves;
/// `None`: sent alone, in order.
fn run_kind(a: &Action) -> Option<u8> {
    match a {
        Action::Create { target, .. } | Action::Delete { target, .. }
            if *target == Target::PODS =>
        {
            Some(1)
        }
        Action::Event { .. } => Some(2),
        _ => None,
    }
}

/// Perform a decision's actions: runs of pod creates or deletes, and runs of Events,
/// concurrently (up to `burst`), everything else in order. Events go through the
/// correlator first (aggregated, counted, rate-limited per object, as client-go's).
async fn perform(
    client: &kube::Client,
    decision: &Reconcile,
    burst: usize,
    component: &str,
    correlator: &Mutex<EventCorrelator>,
) -> Outcome {
    let mut out = Outcome {
        errors: 0,
        failed_creates: 0,
        failed_deletes: Vec::new(),
    };
    let actions = &decision.actions;
    let mut i = 0;
    while i < actions.len() {
        let mut j = i + 1;
        let run = run_kind(&actions[i]);
        if run.is_some() {
            while j < actions.len() && run_kind(&actions[j]) == run {
                j += 1;
            }
        }
        if run == Some(2) {
            let writes = correlate(correlator, &actions[i..j], component);
            let writes = &writes;
            let results: Vec<Result<serde_json::Value, ExecError>> =
                futures::stream::iter(0..writes.len())
                    .map(|n| async move { executor::write_event(client, &writes[n]).await })
                    .buffer_unordered(burst.max(1))
                    .collect()
                    .await;
            for e in results.into_iter().filter_map(Result::err) {
                // An Event is a record, not state: a lost one is logged, not retried.
                tracing::debug!(error = %e, "event not recorded");
            }
            i = j;
            continue;
        }
        let results: Vec<(usize, Result<serde_json::Value, ExecError>)> =
            futures::stream::iter(i..j)
                .map(
                    |n| async move { (n, executor::execute(client, &actions[n], component).await) },
                )
                .buffer_unordered(burst.max(1))
                .collect()
                .await;
        for (n, r) in results {
            let Err(e) = r else { continue };
            let action = &actions[n];
            if !executor::is_benign(action, &e) {
                tracing::warn!(error = %e, ?action, "action failed");
            }
            out.record_failure(action, &e);
        }
        i = j;
    }
    out
}

/// The Event writes for a run of Event actions, one per Event at most.
fn correlate(
    correlator: &Mutex<EventCorrelator>,
    actions: &[Action],
    component: &str,
) -> Vec<events::EventWrite> {
    let now = Timestamp::now();
    let mut c = correlator.lock().unwrap_or_else(|p| p.into_inner());
    let writes = actions
        .iter()
        .filter_map(|a| match a {
            Action::Event {
                involved,
                event_type,
                reason,
                message,
            } => c.correlate(
                &EventIn {
                    involved,
                    event_type: *event_type,
                    reason,
                    message,
                    component,
                },
                now,
            ),
            _ => None,
        })
        .collect();
    events::fold(writes)
}

impl Outcome {
    /// Count a failed action. A pod create that failed created nothing the caches will show,
    /// even when the failure is benign (409: the generated name is taken by another pod), so
    /// its expectation is lowered; otherwise the key would wait for the expectation timeout.
    fn record_failure(&mut self, action: &Action, e: &ExecError) {
        let benign = executor::is_benign(action, e);
        if !benign {
            self.errors += 1;
        }
        match action {
            Action::Create { target, .. } if *target == Target::PODS => self.failed_creates += 1,
            Action::Delete {
                target,
                uid: Some(uid),
                ..
            } if *target == Target::PODS && !benign => {
                self.failed_deletes.push(uid.clone());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Panicky;

    impl Controller for Panicky {
        fn name(&self) -> &'static str {
            "panicky"
        }
        fn keys_for(&self, _change: &Change, _caches: &Caches) -> Vec<String> {
            Vec::new()
        }
        fn reconcile(&self, key: &str, _caches: &Caches, _now: Timestamp) -> Option<Reconcile> {
            assert_ne!(key, "bad", "cannot handle {key}");
            Some(Reconcile::default())
        }
    }

    #[test]
    fn a_panicking_decision_is_an_error_for_its_key_only() {
        let caches = Caches::detached();
        let now = Timestamp::UNIX_EPOCH;
        let err = decide(&Panicky, "bad", &caches, now).expect_err("caught");
        assert!(err.contains("cannot handle bad"), "{err}");
        assert_eq!(
            decide(&Panicky, "good", &caches, now),
            Ok(Some(Reconcile::default()))
        );
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }

    #[test]
    fn pod_writes_and_events_run_in_their_own_runs() {
        let create = Action::Create {
            target: Target::PODS,
            namespace: None,
            object: serde_json::json!({}),
        };
        let other = Action::Create {
            target: Target::NODES,
            namespace: None,
            object: serde_json::json!({}),
        };
        let event = Action::Event {
            involved: Default::default(),
            event_type: bosun_controllers::action::EventType::Normal,
            reason: "R".into(),
            message: "m".into(),
        };
        assert_eq!(run_kind(&create), Some(1));
        assert_eq!(run_kind(&event), Some(2));
        assert_eq!(run_kind(&other), None);
    }

    #[test]
    fn a_pod_create_refused_as_existing_lowers_its_expectation() {
        let mut out = Outcome {
            errors: 0,
            failed_creates: 0,
            failed_deletes: Vec::new(),
        };
        let create = Action::Create {
            target: Target::PODS,
            namespace: Some("default".into()),
            object: serde_json::json!({}),
        };
        let taken = ExecError::Refused {
            code: 409,
            message: "exists".into(),
        };
        out.record_failure(&create, &taken);
        assert_eq!((out.errors, out.failed_creates), (0, 1));
        out.record_failure(&create, &ExecError::Transport("reset".into()));
        assert_eq!((out.errors, out.failed_creates), (1, 2));
        let delete = Action::Delete {
            target: Target::PODS,
            namespace: Some("default".into()),
            name: "p".into(),
            uid: Some("u1".into()),
            propagation: None,
        };
        // Already gone: the caches show the deletion, nothing to lower.
        out.record_failure(
            &delete,
            &ExecError::Refused {
                code: 404,
                message: "gone".into(),
            },
        );
        assert!(out.failed_deletes.is_empty());
        out.record_failure(&delete, &ExecError::Transport("reset".into()));
        assert_eq!(out.failed_deletes, vec!["u1".to_string()]);
        assert_eq!(out.errors, 2);
    }

    #[test]
    fn expectations_hold_a_key_until_its_pods_are_seen() {
        let mut e = Expectations::default();
        assert!(e.satisfied(0, "ns/rs"));
        e.expect(0, "ns/rs", 2, HashSet::from(["u1".to_string()]));
        assert!(!e.satisfied(0, "ns/rs"));
        e.created(0, "ns/rs");
        e.created(0, "ns/rs");
        assert!(!e.satisfied(0, "ns/rs"));
        e.deleted(0, "ns/rs", "u1");
        assert!(e.satisfied(0, "ns/rs"));
        assert!(e.satisfied(1, "ns/rs"), "per controller");
    }
}
