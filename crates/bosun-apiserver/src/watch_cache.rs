//! The watch cache: one per resource, fed by one store watch, as the Kubernetes API server's
//! cacher does it. It holds every object of the resource encoded once (JSON with its
//! resourceVersion, its labels and selectable fields), and a window of recent changes.
//!
//! - A LIST at `resourceVersion=0` is answered from memory ([`WatchCache::list`]).
//! - Every WATCH is fed from the cache ([`WatchCache::watch`]): the changes after the watcher's
//!   revision come from the window, then live from one broadcast, so a thousand watchers cost
//!   one store watch and one decode per change, not a thousand.
//! - A watch from a revision older than the window (or a cache that is not ready yet) falls
//!   back to a store watch of its own, which answers 410 Expired when the store compacted it.
//!
//! A cache is made on first use and kept; its feeding task stops with the API server. When its
//! store watch breaks (the member stopped, the history it needs was compacted), the cache lists
//! again and starts a new generation; watchers of the old one see their stream end and, as
//! every client does, watch again from their last revision.

use crate::object::{RawMembers, raw_labels, stored_parts};
use bosun_api::ResourceInfo;
use bosun_api::selector::{field_members, field_set};
use bosun_store::{Consistency, EventKind, KeyValue, RangeRequest, Store, WatchRequest};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// How many recent changes a cache keeps for watchers that start behind it (a watcher that
/// reconnects from its last revision, a client that watches from the revision of a LIST it
/// made a moment ago). As kube-apiserver sizes its watch cache, the window keeps the last `min`
/// changes always and, up to `max`, every change younger than `fresh`: under thousands of
/// writes a second a fixed count covers only a second or two, and a watcher that asks for an
/// older revision has to be served by a store watch of its own, which decodes every change
/// again (or, in Kubernetes, is told to list again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub min: usize,
    pub max: usize,
    pub fresh: Duration,
}

impl Window {
    /// Exactly the last `n` changes, whatever their age.
    pub const fn fixed(n: usize) -> Self {
        Self {
            min: n,
            max: n,
            fresh: Duration::ZERO,
        }
    }

    /// Whether a window of `len` changes whose oldest is `oldest_age` old drops that one.
    pub fn drops_oldest(&self, len: usize, oldest_age: Duration) -> bool {
        len > self.max || (len > self.min && oldest_age > self.fresh)
    }
}

/// kube-apiserver's bounds: at least 4,096 changes here (its lower bound is 100), at most
/// 100 × 1,024, and the changes of the last 75 s (its `eventFreshDuration`) between the two.
pub const DEFAULT_WINDOW: Window = Window {
    min: 4096,
    max: 100 * 1024,
    fresh: Duration::from_secs(75),
};

/// Changes that left a window are freed on a blocking thread when there are more than this
/// many: tens of thousands leave at once when a burst of writes turns older than the window's
/// `fresh` (22,700 pod changes took 42–58 ms to free), and the cache's task, which feeds every
/// watcher, would stall for it.
const RELEASE_ELSEWHERE: usize = 256;

/// Free changes that left a window (see [`RELEASE_ELSEWHERE`]).
fn release(gone: Vec<Arc<CachedEvent>>) {
    if gone.len() > RELEASE_ELSEWHERE
        && let Ok(rt) = tokio::runtime::Handle::try_current()
    {
        rt.spawn_blocking(move || drop(gone));
    }
}

/// How often a cache drops the changes that left its window while no new change came.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// One object as the cache holds it.
#[derive(Debug)]
pub struct CachedObject {
    pub key: Bytes,
    pub revision: i64,
    /// The object's JSON with `metadata.resourceVersion` set.
    pub json: Bytes,
    pub labels: BTreeMap<String, String>,
    /// The resource's selectable fields (see [`bosun_api::selector::field_set`]).
    pub fields: Vec<(&'static str, String)>,
}

impl CachedObject {
    /// Decode a stored key-value (`revision` becomes its resourceVersion). The JSON is the
    /// stored one with the resourceVersion spliced into its metadata; of the rest, only the
    /// labels, the name and namespace and the members the selectable fields read are decoded
    /// (a pod's spec.nodeName, not its containers).
    fn decode(res: &ResourceInfo, key: Bytes, value: &[u8], revision: i64) -> Option<Self> {
        let (json, meta, members) = stored_parts(value, revision).ok()?;
        let labels = raw_labels(&meta);
        let mut name_ns = serde_json::Map::new();
        for k in ["name", "namespace"] {
            if let Some(raw) = meta.get(k) {
                name_ns.insert(k.to_string(), serde_json::from_str(raw.get()).ok()?);
            }
        }
        let mut full = serde_json::Map::new();
        full.insert("metadata".into(), Value::Object(name_ns));
        for (root, wanted) in field_members(res) {
            let Some(raw) = members.get(root) else {
                continue;
            };
            let value = if wanted.is_empty() {
                serde_json::from_str(raw.get()).ok()?
            } else {
                // A root that is not an object has none of the members fields read.
                let Ok(inner) = serde_json::from_str::<RawMembers>(raw.get()) else {
                    continue;
                };
                let mut picked = serde_json::Map::new();
                for m in wanted {
                    if let Some(raw) = inner.get(m) {
                        picked.insert(m.to_string(), serde_json::from_str(raw.get()).ok()?);
                    }
                }
                Value::Object(picked)
            };
            full.insert(root.to_string(), value);
        }
        let full = Value::Object(full);
        Some(Self {
            key,
            revision,
            fields: field_set(res, &full),
            json: Bytes::from(json),
            labels,
        })
    }

    /// The object as a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// One change: the object after it (for a delete, the object as it was, at the delete's
/// revision) and, when the key existed before, the object before it.
#[derive(Debug)]
pub struct CachedEvent {
    pub revision: i64,
    pub kind: EventKind,
    pub object: Arc<CachedObject>,
    pub prev: Option<Arc<CachedObject>>,
}

#[derive(Debug)]
struct State {
    objects: BTreeMap<Bytes, Arc<CachedObject>>,
    /// The newest revision the cache has applied (at least its initial list's).
    revision: i64,
    /// Changes after `window_start`, oldest first, each with when it was applied.
    window: VecDeque<(Instant, Arc<CachedEvent>)>,
    window_start: i64,
    /// False until the first list is in, and while the cache re-lists.
    ready: bool,
    /// Live changes, in batches of one revision's worth. Replaced with each generation, so
    /// watchers of an older generation see their stream end.
    live: broadcast::Sender<Arc<CachedEvent>>,
}

impl State {
    /// The objects under `prefix`, in key order, at the cache's revision.
    fn under(&self, prefix: &str) -> CacheList {
        let start = Bytes::copy_from_slice(prefix.as_bytes());
        let objects = self
            .objects
            .range(start..)
            .take_while(|(k, _)| k.starts_with(prefix.as_bytes()))
            .map(|(_, o)| o.clone())
            .collect();
        CacheList {
            objects,
            revision: self.revision,
        }
    }
}

/// The cache of one resource (all namespaces).
#[derive(Debug)]
pub struct WatchCache {
    res: &'static ResourceInfo,
    prefix: String,
    state: RwLock<State>,
    ready: tokio::sync::watch::Sender<bool>,
    window: Window,
}

/// Why a cache cannot serve a request; the caller reads the store instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unservable {
    /// The cache has not loaded yet.
    NotReady,
    /// The watcher's revision is older than the cache's window.
    TooOld,
}

/// A watch served by the cache: the changes already due, then the live ones.
#[derive(Debug)]
pub struct CacheWatch {
    pub backlog: Vec<Arc<CachedEvent>>,
    pub live: broadcast::Receiver<Arc<CachedEvent>>,
    /// The revision after which `live` continues (changes at or before it are in `backlog` or
    /// older than the watch).
    pub after: i64,
}

/// A snapshot of the objects for a LIST at resourceVersion=0 or a watch's initial events.
#[derive(Debug)]
pub struct CacheList {
    pub objects: Vec<Arc<CachedObject>>,
    pub revision: i64,
}

impl WatchCache {
    fn new(res: &'static ResourceInfo, prefix: String, window: Window) -> Self {
        let (live, _) = broadcast::channel(window.min.max(16));
        Self {
            res,
            prefix,
            state: RwLock::new(State {
                objects: BTreeMap::new(),
                revision: 0,
                window: VecDeque::new(),
                window_start: i64::MAX,
                ready: false,
                live,
            }),
            ready: tokio::sync::watch::Sender::new(false),
            window,
        }
    }

    pub fn resource(&self) -> &'static ResourceInfo {
        self.res
    }

    /// Wait until the cache has loaded (at most `timeout`).
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.ready.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The state, once the cache has loaded.
    fn ready_state(&self) -> Result<std::sync::RwLockReadGuard<'_, State>, Unservable> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if state.ready {
            Ok(state)
        } else {
            Err(Unservable::NotReady)
        }
    }

    /// Every object under `prefix` (a namespace's or the whole resource's), in key order.
    pub fn list(&self, prefix: &str) -> Result<CacheList, Unservable> {
        Ok(self.ready_state()?.under(prefix))
    }

    /// The object at `key` as the cache holds it (`None`: not there); unservable until the
    /// cache has loaded. The copy may trail the store by the changes still on their way to it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Arc<CachedObject>>, Unservable> {
        Ok(self.ready_state()?.objects.get(key).cloned())
    }

    /// The objects at the cache's current revision and a watch continuing from there: what a
    /// watch without a resourceVersion (or at 0) sends.
    pub fn list_and_watch(&self, prefix: &str) -> Result<(CacheList, CacheWatch), Unservable> {
        let state = self.ready_state()?;
        let watch = CacheWatch {
            backlog: vec![],
            live: state.live.subscribe(),
            after: state.revision,
        };
        Ok((state.under(prefix), watch))
    }

    /// The changes after `revision`, then live ones.
    pub fn watch(&self, revision: i64) -> Result<CacheWatch, Unservable> {
        let state = self.ready_state()?;
        if revision < state.window_start {
            return Err(Unservable::TooOld);
        }
        let backlog: Vec<_> = state
            .window
            .iter()
            .filter(|(_, e)| e.revision > revision)
            .map(|(_, e)| e.clone())
            .collect();
        Ok(CacheWatch {
            backlog,
            live: state.live.subscribe(),
            after: state.revision.max(revision),
        })
    }

    /// Load everything under the prefix at one revision; the window starts there.
    async fn load(&self, store: &dyn Store) -> Result<i64, bosun_store::Error> {
        {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            state.ready = false;
        }
        self.ready.send_replace(false);
        let mut objects = BTreeMap::new();
        let mut revision = 0;
        let mut start: Option<Bytes> = None;
        loop {
            let mut req = RangeRequest::prefix(Bytes::from(self.prefix.clone()))
                .with_limit(1000)
                .at_revision(revision);
            req.start = start.clone();
            req.consistency = Consistency::Linearizable;
            let resp = store.range(req).await?;
            if revision == 0 {
                revision = resp.revision;
            }
            for kv in &resp.kvs {
                if let Some(o) =
                    CachedObject::decode(self.res, kv.key.clone(), &kv.value, kv.mod_revision)
                {
                    objects.insert(kv.key.clone(), Arc::new(o));
                }
            }
            match (resp.more, resp.kvs.last()) {
                (true, Some(last)) => {
                    let mut next = last.key.to_vec();
                    next.push(0);
                    start = Some(Bytes::from(next));
                }
                _ => break,
            }
        }
        let (live, _) = broadcast::channel(self.window.min.max(16));
        {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            *state = State {
                objects,
                revision,
                window: VecDeque::new(),
                window_start: revision,
                ready: true,
                live,
            };
        }
        self.ready.send_replace(true);
        Ok(revision)
    }

    /// Apply one store change and publish it.
    fn apply(&self, kind: EventKind, kv: KeyValue, prev: Option<KeyValue>) {
        let revision = kv.mod_revision;
        // Decoded before the lock is taken: readers (LISTs served from the cache, watches
        // starting) wait only for the insert. This task alone applies changes, in order.
        let object = match kind {
            EventKind::Put => {
                CachedObject::decode(self.res, kv.key.clone(), &kv.value, revision).map(Arc::new)
            }
            // A deleted object is sent as it last was, at the delete's revision.
            EventKind::Delete => prev
                .as_ref()
                .and_then(|p| CachedObject::decode(self.res, kv.key.clone(), &p.value, revision))
                .map(Arc::new),
        };
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let prev_cached = state.objects.get(&kv.key).cloned().or_else(|| {
            prev.as_ref().and_then(|p| {
                CachedObject::decode(self.res, p.key.clone(), &p.value, p.mod_revision)
                    .map(Arc::new)
            })
        });
        match kind {
            EventKind::Put => {
                if let Some(o) = &object {
                    state.objects.insert(kv.key.clone(), o.clone());
                }
            }
            EventKind::Delete => {
                state.objects.remove(&kv.key);
            }
        }
        state.revision = state.revision.max(revision);
        let Some(object) = object else {
            return;
        };
        let event = Arc::new(CachedEvent {
            revision,
            kind,
            object,
            prev: prev_cached,
        });
        let now = Instant::now();
        state.window.push_back((now, event.clone()));
        let gone = self.trim(&mut state, now);
        // No receivers is not an error: nobody watches right now.
        let _ = state.live.send(event);
        drop(state);
        release(gone);
    }

    /// Take the oldest changes that have left the window out of it.
    fn trim(&self, state: &mut State, now: Instant) -> Vec<Arc<CachedEvent>> {
        let mut gone = Vec::new();
        while let Some((at, old)) = state.window.front()
            && self
                .window
                .drops_oldest(state.window.len(), now.saturating_duration_since(*at))
        {
            state.window_start = state.window_start.max(old.revision);
            if let Some((_, old)) = state.window.pop_front() {
                gone.push(old);
            }
        }
        gone
    }

    /// Drop stale changes when no write came to do it.
    fn trim_now(&self) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let gone = self.trim(&mut state, Instant::now());
        drop(state);
        release(gone);
    }

    /// Feed the cache until `shutdown`: load, follow the store watch, re-load when it breaks.
    async fn run(self: Arc<Self>, store: Arc<dyn Store>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let loaded = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.load(store.as_ref()) => r,
            };
            let revision = match loaded {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(resource = self.res.plural, error = %e, "watch cache: list failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            let watch = store
                .watch(
                    WatchRequest::prefix(Bytes::from(self.prefix.clone()))
                        .from_revision(revision + 1),
                )
                .await;
            let mut events = match watch {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(resource = self.res.plural, error = %e, "watch cache: watch failed; re-listing");
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            let mut trim = tokio::time::interval(TRIM_EVERY);
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = trim.tick() => {
                        self.trim_now();
                        continue;
                    }
                    next = events.next() => next,
                };
                match next {
                    Some(Ok(ev)) => self.apply(ev.kind, ev.kv, ev.prev),
                    Some(Err(e)) => {
                        tracing::warn!(resource = self.res.plural, error = %e, "watch cache: store watch broke; re-listing");
                        break;
                    }
                    None => {
                        tracing::warn!(
                            resource = self.res.plural,
                            "watch cache: store watch ended; re-listing"
                        );
                        break;
                    }
                }
            }
        }
    }
}

/// The caches of one API server, made on first use.
#[derive(Debug)]
pub struct WatchCaches {
    store: Arc<dyn Store>,
    caches: Mutex<HashMap<String, Arc<WatchCache>>>,
    window: Window,
    shutdown: CancellationToken,
}

impl WatchCaches {
    pub fn new(store: Arc<dyn Store>, window: Window) -> Self {
        Self {
            store,
            caches: Mutex::new(HashMap::new()),
            window,
            shutdown: CancellationToken::new(),
        }
    }

    /// The cache of `res`, started when first asked for. Needs a Tokio runtime.
    pub fn get(&self, res: &'static ResourceInfo) -> Arc<WatchCache> {
        let prefix = crate::registry::prefix(res, None);
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = caches.get(&prefix) {
            return c.clone();
        }
        // Resources that share storage share the cache, which keeps the stored form.
        let stored = crate::registry::storage_resource(res);
        let cache = Arc::new(WatchCache::new(stored, prefix.clone(), self.window));
        caches.insert(prefix, cache.clone());
        tokio::spawn(
            cache
                .clone()
                .run(self.store.clone(), self.shutdown.child_token()),
        );
        cache
    }

    /// Stop every cache's feeding task.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for WatchCaches {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_store::{MemoryStore, Op, Txn};
    use serde_json::json;

    fn configmaps() -> &'static ResourceInfo {
        bosun_api::resources::find("", "v1", "configmaps").expect("configmaps")
    }

    fn pods() -> &'static ResourceInfo {
        bosun_api::resources::find("", "v1", "pods").expect("pods")
    }

    async fn put(store: &MemoryStore, key: &str, value: Value) -> i64 {
        let txn = Txn::new().and_then([Op::put(key.to_string(), value.to_string())]);
        store.txn(txn).await.expect("txn").revision
    }

    async fn delete(store: &MemoryStore, key: &str) -> i64 {
        let txn = Txn::new().and_then([Op::delete(key.to_string())]);
        store.txn(txn).await.expect("txn").revision
    }

    fn cm(name: &str, ns: &str, app: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": app}}})
    }

    async fn ready_cache(
        store: Arc<MemoryStore>,
        res: &'static ResourceInfo,
        window: Window,
    ) -> (WatchCaches, Arc<WatchCache>) {
        let caches = WatchCaches::new(store, window);
        let cache = caches.get(res);
        assert!(
            cache.wait_ready(Duration::from_secs(10)).await,
            "cache loads"
        );
        (caches, cache)
    }

    async fn until_revision(cache: &WatchCache, revision: i64) {
        for _ in 0..500 {
            if cache.list("/").map(|l| l.revision).unwrap_or(0) >= revision {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the cache never reached revision {revision}");
    }

    #[tokio::test]
    async fn the_cache_holds_what_the_store_holds_with_resource_versions() {
        let store = Arc::new(MemoryStore::default());
        let r1 = put(
            &store,
            "/registry/core/configmaps/a/one",
            cm("one", "a", "x"),
        )
        .await;
        let (_caches, cache) = ready_cache(store.clone(), configmaps(), Window::fixed(16)).await;
        let r2 = put(
            &store,
            "/registry/core/configmaps/b/two",
            cm("two", "b", "y"),
        )
        .await;
        let r3 = put(
            &store,
            "/registry/core/configmaps/a/one",
            cm("one", "a", "z"),
        )
        .await;
        // Another resource's keys are not this cache's business.
        put(
            &store,
            "/registry/core/secrets/a/s",
            json!({"metadata": {"name": "s"}}),
        )
        .await;
        until_revision(&cache, r3).await;

        let all = cache.list("/registry/core/configmaps/").expect("ready");
        let names: Vec<(String, i64)> = all
            .objects
            .iter()
            .map(|o| {
                (
                    o.value()["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    o.revision,
                )
            })
            .collect();
        assert_eq!(names, [("one".to_string(), r3), ("two".to_string(), r2)]);
        let one = &all.objects[0];
        assert_eq!(one.value()["metadata"]["resourceVersion"], r3.to_string());
        assert_eq!(one.labels.get("app").map(String::as_str), Some("z"));
        let in_a = cache.list("/registry/core/configmaps/a/").expect("ready");
        assert_eq!(in_a.objects.len(), 1);
        assert!(r1 < r2);
    }

    #[tokio::test]
    async fn a_watch_gets_the_changes_after_its_revision_then_live_ones_in_order() {
        let store = Arc::new(MemoryStore::default());
        let (_caches, cache) = ready_cache(store.clone(), configmaps(), Window::fixed(16)).await;
        let r1 = put(
            &store,
            "/registry/core/configmaps/a/one",
            cm("one", "a", "x"),
        )
        .await;
        let r2 = put(
            &store,
            "/registry/core/configmaps/a/one",
            cm("one", "a", "y"),
        )
        .await;
        until_revision(&cache, r2).await;
        let mut w = cache.watch(r1).expect("in the window");
        assert_eq!(
            w.backlog.iter().map(|e| e.revision).collect::<Vec<_>>(),
            [r2]
        );
        let prev = w.backlog[0].prev.as_ref().expect("the object before");
        assert_eq!(prev.labels.get("app").map(String::as_str), Some("x"));

        let r3 = delete(&store, "/registry/core/configmaps/a/one").await;
        let live = tokio::time::timeout(Duration::from_secs(5), w.live.recv())
            .await
            .expect("in time")
            .expect("an event");
        assert_eq!((live.revision, live.kind), (r3, EventKind::Delete));
        // A deleted object is its last state at the delete's revision.
        assert_eq!(
            live.object.value()["metadata"]["resourceVersion"],
            r3.to_string()
        );
        assert_eq!(live.object.labels.get("app").map(String::as_str), Some("y"));
    }

    #[tokio::test]
    async fn a_revision_older_than_the_window_is_refused() {
        let store = Arc::new(MemoryStore::default());
        let (_caches, cache) = ready_cache(store.clone(), configmaps(), Window::fixed(2)).await;
        let first = put(&store, "/registry/core/configmaps/a/c0", cm("c0", "a", "x")).await;
        let mut last = first;
        for i in 1..5 {
            last = put(
                &store,
                &format!("/registry/core/configmaps/a/c{i}"),
                cm("c", "a", "x"),
            )
            .await;
        }
        until_revision(&cache, last).await;
        assert_eq!(cache.watch(first - 1).err(), Some(Unservable::TooOld));
        let w = cache
            .watch(last - 2)
            .expect("the last two changes are kept");
        assert_eq!(w.backlog.len(), 2);
        let w = cache
            .watch(last + 100)
            .expect("a future revision waits for changes");
        assert!(w.backlog.is_empty());
        assert_eq!(w.after, last + 100);
    }

    #[test]
    fn the_window_keeps_its_minimum_then_fresh_changes_up_to_its_maximum() {
        let w = Window {
            min: 2,
            max: 4,
            fresh: Duration::from_secs(75),
        };
        let old = Duration::from_secs(76);
        let young = Duration::from_secs(1);
        // Never below the minimum, however old.
        assert!(!w.drops_oldest(2, old));
        // Between the bounds: only what is older than `fresh` goes.
        assert!(w.drops_oldest(3, old));
        assert!(!w.drops_oldest(3, young));
        assert!(!w.drops_oldest(4, Duration::from_secs(75)));
        // Never above the maximum, however young.
        assert!(w.drops_oldest(5, young));
        let fixed = Window::fixed(2);
        assert!(!fixed.drops_oldest(2, old));
        assert!(fixed.drops_oldest(3, Duration::ZERO));
    }

    /// `n` ConfigMap changes; the revision of the first and of the last.
    async fn changes(store: &MemoryStore, n: usize) -> (i64, i64) {
        let first = put(store, "/registry/core/configmaps/a/c0", cm("c0", "a", "x")).await;
        let mut last = first;
        for i in 1..n {
            last = put(
                store,
                &format!("/registry/core/configmaps/a/c{i}"),
                cm("c", "a", "x"),
            )
            .await;
        }
        (first, last)
    }

    #[tokio::test]
    async fn a_watcher_behind_more_than_the_minimum_is_served_while_its_changes_are_fresh() {
        let store = Arc::new(MemoryStore::default());
        let window = Window {
            min: 2,
            max: 6,
            fresh: Duration::from_secs(3600),
        };
        let (_caches, cache) = ready_cache(store.clone(), configmaps(), window).await;
        let (first, last) = changes(&store, 5).await;
        until_revision(&cache, last).await;
        let w = cache
            .watch(first - 1)
            .expect("five fresh changes are within the maximum");
        assert_eq!(w.backlog.len(), 5);
        assert_eq!(w.backlog[0].revision, first);
        // Past the maximum the oldest go, fresh or not.
        let (_, last) = changes(&store, 3).await;
        until_revision(&cache, last).await;
        assert_eq!(cache.watch(first - 1).err(), Some(Unservable::TooOld));
        assert_eq!(cache.watch(last - 6).map(|w| w.backlog.len()), Ok(6));
    }

    #[tokio::test]
    async fn stale_changes_leave_the_window_down_to_its_minimum_without_new_writes() {
        let store = Arc::new(MemoryStore::default());
        let window = Window {
            min: 2,
            max: 100,
            fresh: Duration::from_millis(50),
        };
        let (_caches, cache) = ready_cache(store.clone(), configmaps(), window).await;
        let (first, last) = changes(&store, 5).await;
        until_revision(&cache, last).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        cache.trim_now();
        assert_eq!(cache.watch(first - 1).err(), Some(Unservable::TooOld));
        assert_eq!(cache.watch(last - 2).map(|w| w.backlog.len()), Ok(2));
    }

    /// More changes than RELEASE_ELSEWHERE leave at once: they are out of the window at once
    /// and freed (on a blocking thread), none kept alive.
    #[tokio::test]
    async fn a_burst_of_stale_changes_is_freed() {
        let store = Arc::new(MemoryStore::default());
        let window = Window {
            min: 2,
            max: 10_000,
            fresh: Duration::from_millis(50),
        };
        let (_caches, cache) = ready_cache(store.clone(), configmaps(), window).await;
        let (first, last) = changes(&store, RELEASE_ELSEWHERE + 50).await;
        until_revision(&cache, last).await;
        let oldest = Arc::downgrade(&cache.watch(first - 1).expect("all fresh").backlog[0]);
        tokio::time::sleep(Duration::from_millis(100)).await;
        cache.trim_now();
        assert_eq!(cache.watch(last - 2).map(|w| w.backlog.len()), Ok(2));
        let deadline = Instant::now() + Duration::from_secs(5);
        while oldest.upgrade().is_some() {
            assert!(
                Instant::now() < deadline,
                "the stale changes were never freed"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn selectable_fields_are_kept_for_field_selectors() {
        let store = Arc::new(MemoryStore::default());
        let (_caches, cache) = ready_cache(store.clone(), pods(), Window::fixed(16)).await;
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
            "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let r = put(&store, "/registry/core/pods/a/p", pod.clone()).await;
        until_revision(&cache, r).await;
        let listed = cache.list("/registry/core/pods/").expect("ready");
        let fields = &listed.objects[0].fields;
        let selector =
            bosun_api::FieldSelector::parse("spec.nodeName=n1,status.phase=Running", pods())
                .expect("selector");
        assert!(selector.matches_set(fields));
        assert!(selector.matches(&pod));
        let other = bosun_api::FieldSelector::parse("spec.nodeName=n2", pods()).expect("selector");
        assert!(!other.matches_set(fields));
        let name = bosun_api::FieldSelector::parse("metadata.name=p,metadata.namespace=a", pods())
            .expect("selector");
        assert!(name.matches_set(fields));
    }

    #[test]
    fn decoding_the_field_roots_only_keeps_every_selectable_field() {
        // Fields read from paths other than their names (status.podIPs, source.component,
        // reportingComponent) and members no field needs (managedFields, containers).
        let cases = [
            (
                pods(),
                json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p", "namespace": "a", "labels": {"app": "x"},
                        "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
                    "spec": {"nodeName": "n1", "schedulerName": "s", "restartPolicy": "Never",
                        "hostNetwork": true, "serviceAccountName": "sa",
                        "containers": [{"name": "c", "image": "i"}]},
                    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.2"}],
                        "podIP": "10.0.0.1", "nominatedNodeName": "n2"}}),
            ),
            (
                bosun_api::resources::find("", "v1", "events").expect("events"),
                json!({"apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": "e", "namespace": "a"},
                    "involvedObject": {"kind": "Pod", "name": "p", "uid": "u"},
                    "reason": "Scheduled", "type": "Normal", "reportingComponent": "r",
                    "message": "m"}),
            ),
            (
                bosun_api::resources::find("batch", "v1", "jobs").expect("jobs"),
                json!({"metadata": {"name": "j", "namespace": "a"}, "status": {"succeeded": 3}}),
            ),
        ];
        for (res, obj) in cases {
            let bytes = obj.to_string();
            let cached = CachedObject::decode(res, Bytes::from_static(b"k"), bytes.as_bytes(), 9)
                .expect("decodes");
            let whole = crate::object::decode_stored(bytes.as_bytes(), 9).expect("decodes");
            assert_eq!(cached.fields, field_set(res, &whole), "{}", res.plural);
        }
    }

    #[tokio::test]
    async fn stopping_the_caches_ends_their_tasks_and_live_streams() {
        let store = Arc::new(MemoryStore::default());
        let (caches, cache) = ready_cache(store.clone(), configmaps(), Window::fixed(16)).await;
        let (_, mut w) = cache.list_and_watch("/").expect("ready");
        caches.stop();
        drop(caches);
        // The feeding task ends; with it the last sender of this generation goes when the
        // cache is dropped.
        drop(cache);
        let ended = tokio::time::timeout(Duration::from_secs(5), w.live.recv()).await;
        assert!(
            matches!(ended, Ok(Err(broadcast::error::RecvError::Closed))),
            "{ended:?}"
        );
    }
}
