//! Keeping the store from growing without bound: history compaction on an interval (to the
//! revision seen one interval earlier, as Kubernetes does with etcd) and expiry of old Events.

use crate::list::{Filter, read_list};
use crate::registry;
use bosun_api::resources;
use bosun_store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(
    store: Arc<dyn Store>,
    compaction: Duration,
    event_ttl: Duration,
    shutdown: CancellationToken,
) {
    let mut previous: Option<i64> = None;
    let mut tick = tokio::time::interval(
        compaction
            .min(event_ttl / 4)
            .max(Duration::from_millis(100)),
    );
    let mut since_compaction = Duration::ZERO;
    let period = tick.period();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        expire_events(store.as_ref(), event_ttl).await;
        since_compaction += period;
        if since_compaction < compaction {
            continue;
        }
        since_compaction = Duration::ZERO;
        if let Some(rev) = previous
            && let Err(e) = store.compact(rev).await
            && !matches!(e, bosun_store::Error::Compacted { .. })
        {
            tracing::warn!(error = %e, revision = rev, "compaction failed");
        }
        previous = store.current_revision().await.ok();
    }
}

/// Delete core/v1 and events.k8s.io/v1 Events whose last activity is older than `ttl`.
pub async fn expire_events(store: &dyn Store, ttl: Duration) {
    let cutoff =
        chrono::Utc::now() - chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
    for (group, version) in [("", "v1"), ("events.k8s.io", "v1")] {
        let Some(res) = resources::find(group, version, "events") else {
            continue;
        };
        let filter = match Filter::from_query(res, &HashMap::new()) {
            Ok(f) => f,
            Err(_) => continue,
        };
        let Ok(listed) = read_list(
            store,
            res,
            &registry::prefix(res, None),
            &filter,
            0,
            &HashMap::new(),
        )
        .await
        else {
            continue;
        };
        for ev in listed.items {
            let last = [
                "/lastTimestamp",
                "/eventTime",
                "/series/lastObservedTime",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .filter_map(|p| ev.pointer(p).and_then(|v| v.as_str()))
            .filter_map(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .max();
            if last.is_some_and(|t| t < cutoff) {
                let name = crate::object::meta_str(&ev, "name").unwrap_or_default();
                let ns = crate::object::meta_str(&ev, "namespace");
                let rv = ev
                    .pointer("/metadata/resourceVersion")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let _ = registry::delete(store, res, ns, name, rv).await;
            }
        }
    }
}
