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

/// Delete Events whose last activity is older than `ttl`. core/v1 and events.k8s.io/v1 Events
/// share storage in the core form, so one pass over core/v1 covers both.
pub async fn expire_events(store: &dyn Store, ttl: Duration) {
    let cutoff =
        chrono::Utc::now() - chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
    let Some(res) = resources::find("", "v1", "events") else {
        return;
    };
    let filter = match Filter::from_query(res, &HashMap::new()) {
        Ok(f) => f,
        Err(_) => return,
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
        return;
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

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_store::MemoryStore;
    use serde_json::json;

    #[tokio::test]
    async fn events_written_through_either_api_expire() {
        let store = MemoryStore::default();
        let core = resources::find("", "v1", "events").expect("core");
        let v1 = resources::find("events.k8s.io", "v1", "events").expect("events.k8s.io");
        let old = "2020-01-01T00:00:00Z";
        let now = chrono::Utc::now().to_rfc3339();
        let write = |res: &'static bosun_api::ResourceInfo, name: &str, at: &str| {
            let body = if res.group == "events.k8s.io" {
                json!({"metadata": {"name": name, "namespace": "ns", "creationTimestamp": at},
                    "eventTime": at, "note": "n"})
            } else {
                json!({"metadata": {"name": name, "namespace": "ns", "creationTimestamp": at},
                    "lastTimestamp": at, "message": "m"})
            };
            (res, name.to_string(), body)
        };
        for (res, name, body) in [
            write(core, "old-core", old),
            write(v1, "old-v1", old),
            write(v1, "new-v1", &now),
        ] {
            registry::create(&store, res, Some("ns"), &name, &body)
                .await
                .expect("create");
        }
        expire_events(&store, Duration::from_secs(3600)).await;
        let left = read_list(
            &store,
            core,
            &registry::prefix(core, None),
            &Filter::everything(),
            0,
            &HashMap::new(),
        )
        .await
        .expect("list");
        let names: Vec<&str> = left
            .items
            .iter()
            .filter_map(|e| crate::object::meta_str(e, "name"))
            .collect();
        assert_eq!(names, ["new-v1"]);
    }
}
