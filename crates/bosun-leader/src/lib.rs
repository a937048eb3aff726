//! Leader election over a `coordination.k8s.io/v1` Lease, the way client-go's
//! `leaderelection` does it, so several replicas of a component can stand by and one works.
//!
//! Where to start reading: [`decide`] (pure: given the Lease as last seen and when it was
//! last seen to change, what should this candidate do) and [`run_elected`] (the loop that
//! reads and writes the Lease and starts and stops the work).
//!
//! Expiry is judged by the candidate's own clock from the moment it saw the Lease change, not
//! by the holder's `renewTime`, so clock skew between machines does not matter.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Timing and identity, with client-go's defaults (15 s lease, 10 s renew deadline, 2 s retry).
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl ElectionConfig {
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What a candidate does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Create the Lease (there is none).
    Create,
    /// Write ourselves as holder: we hold it already (renew) or it expired (take over).
    Acquire { renew: bool },
    /// Someone else holds a live Lease.
    Wait,
}

/// Decide from the Lease spec (None: no Lease), who we are, and how long ago (on our clock)
/// we saw the Lease's holder or renew time change.
pub fn decide(
    spec: Option<&LeaseSpec>,
    identity: &str,
    since_change: Duration,
    lease_duration: Duration,
) -> Decision {
    let Some(spec) = spec else {
        return Decision::Create;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder == identity {
        return Decision::Acquire { renew: true };
    }
    let duration = spec.lease_duration_seconds.map_or(lease_duration, |s| {
        Duration::from_secs(u64::try_from(s).unwrap_or(0))
    });
    if holder.is_empty() || since_change >= duration {
        Decision::Acquire { renew: false }
    } else {
        Decision::Wait
    }
}

fn spec_for(config: &ElectionConfig, old: Option<&LeaseSpec>, renew: bool) -> LeaseSpec {
    let now = MicroTime(Timestamp::now());
    let transitions = old.and_then(|o| o.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(config.identity.clone()),
        lease_duration_seconds: Some(i32::try_from(config.lease_duration.as_secs()).unwrap_or(15)),
        acquire_time: if renew {
            old.and_then(|o| o.acquire_time.clone())
        } else {
            Some(now.clone())
        },
        renew_time: Some(now),
        lease_transitions: Some(if renew { transitions } else { transitions + 1 }),
        ..LeaseSpec::default()
    }
}

/// What we last saw of the Lease, to time its expiry on our own clock.
#[derive(Debug, Default)]
struct Observed {
    key: Option<(Option<String>, Option<MicroTime>)>,
    at: Option<Instant>,
}

impl Observed {
    fn since_change(&mut self, spec: Option<&LeaseSpec>) -> Duration {
        let key = spec.map(|s| (s.holder_identity.clone(), s.renew_time.clone()));
        if key != self.key || self.at.is_none() {
            self.key = key;
            self.at = Some(Instant::now());
        }
        self.at.map_or(Duration::ZERO, |t| t.elapsed())
    }
}

/// One attempt to acquire or renew. Ok(true) when we hold the Lease afterwards.
async fn try_acquire(
    api: &Api<Lease>,
    config: &ElectionConfig,
    observed: &mut Observed,
) -> kube::Result<bool> {
    let current = api.get_opt(&config.name).await?;
    let spec = current.as_ref().and_then(|l| l.spec.as_ref());
    let since = observed.since_change(spec);
    match decide(spec, &config.identity, since, config.lease_duration) {
        Decision::Wait => Ok(false),
        Decision::Create => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec_for(config, None, false)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Decision::Acquire { renew } => {
            let Some(mut lease) = current else {
                return Ok(false);
            };
            lease.spec = Some(spec_for(config, lease.spec.as_ref(), renew));
            // replace carries the resourceVersion: a competing writer makes this a 409.
            match api
                .replace(&config.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Stand for election until `stop`; each time this candidate becomes leader, `work` runs with
/// a token that is cancelled when leadership is lost (renewals failing for `renew_deadline`)
/// or on `stop`. Returns when `stop` is cancelled and the work has ended.
pub async fn run_elected<F, Fut>(
    client: kube::Client,
    config: ElectionConfig,
    stop: CancellationToken,
    work: F,
) where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let mut observed = Observed::default();
    loop {
        // Candidate: try until we hold the Lease.
        loop {
            match try_acquire(&api, &config, &mut observed).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "leader election: lease not reachable"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(config.retry_period) => {}
            }
        }
        tracing::info!(identity = %config.identity, lease = %config.name, "became leader");
        let token = stop.child_token();
        let task = tokio::spawn(work(token.clone()));
        // Leader: renew every retry period; give up after the renew deadline without success.
        let mut last_renew = Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(config.retry_period) => {}
            }
            match try_acquire(&api, &config, &mut observed).await {
                Ok(true) => last_renew = Instant::now(),
                Ok(false) => {
                    tracing::warn!(identity = %config.identity, "leadership lost to another candidate");
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
            }
            if last_renew.elapsed() >= config.renew_deadline {
                tracing::warn!(identity = %config.identity, "leadership lost: renewals failed past the deadline");
                break;
            }
        }
        token.cancel();
        let _ = task.await;
        if stop.is_cancelled() {
            // Step down so a standby takes over at once instead of waiting out the lease.
            if let Ok(Some(mut lease)) = api.get_opt(&config.name).await
                && lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.holder_identity.as_deref())
                    == Some(config.identity.as_str())
            {
                if let Some(spec) = lease.spec.as_mut() {
                    spec.holder_identity = None;
                    spec.lease_duration_seconds = Some(1);
                }
                let _ = api
                    .replace(&config.name, &PostParams::default(), &lease)
                    .await;
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(who: &str, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(who.into()),
            lease_duration_seconds: Some(secs),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_missing_lease_is_created_and_our_own_is_renewed() {
        let d = Duration::from_secs(15);
        assert_eq!(decide(None, "a", Duration::ZERO, d), Decision::Create);
        assert_eq!(
            decide(Some(&held_by("a", 15)), "a", Duration::from_secs(99), d),
            Decision::Acquire { renew: true }
        );
    }

    #[test]
    fn another_holder_is_respected_until_its_lease_expires_on_our_clock() {
        let d = Duration::from_secs(15);
        let spec = held_by("b", 15);
        assert_eq!(
            decide(Some(&spec), "a", Duration::from_secs(14), d),
            Decision::Wait
        );
        assert_eq!(
            decide(Some(&spec), "a", Duration::from_secs(15), d),
            Decision::Acquire { renew: false }
        );
        // A released lease (no holder) is free at once.
        let released = LeaseSpec {
            holder_identity: None,
            ..spec
        };
        assert_eq!(
            decide(Some(&released), "a", Duration::ZERO, d),
            Decision::Acquire { renew: false }
        );
    }

    #[test]
    fn taking_over_counts_a_transition_and_renewing_keeps_the_acquire_time() {
        let config = ElectionConfig::new("kube-system", "x", "a");
        let taken = spec_for(&config, Some(&held_by("b", 15)), false);
        assert_eq!(taken.lease_transitions, Some(1));
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        let renewed = spec_for(&config, Some(&taken), true);
        assert_eq!(renewed.lease_transitions, Some(1));
        assert_eq!(renewed.acquire_time, taken.acquire_time);
    }
}
