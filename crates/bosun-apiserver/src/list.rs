//! LIST (with label and field selectors, limit/continue and resourceVersion), WATCH (the
//! Kubernetes wire format: one JSON event per line), and DELETE of a collection.

use crate::object::{decode_stored, labels};
use crate::path::ObjectPath;
use crate::registry;
use crate::response::{Result, include_object, json, wants_table};
use crate::state::AppState;
use crate::watch_cache::{CacheWatch, CachedEvent, CachedObject};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bosun_api::{ApiError, FieldSelector, LabelSelector, ResourceInfo};
use bosun_store::{Consistency, EventKind, RangeRequest, Store, WatchRequest};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Label and field selectors of a request.
#[derive(Debug, Clone)]
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    pub fn from_query(
        res: &ResourceInfo,
        query: &HashMap<String, String>,
    ) -> Result<Self, ApiError> {
        let labels = query
            .get("labelSelector")
            .filter(|s| !s.is_empty())
            .map(|s| LabelSelector::parse(s))
            .transpose()?;
        let fields = query
            .get("fieldSelector")
            .filter(|s| !s.is_empty())
            .map(|s| FieldSelector::parse(s, res))
            .transpose()?;
        Ok(Self { labels, fields })
    }

    /// A filter that selects everything.
    pub fn everything() -> Self {
        Self {
            labels: None,
            fields: None,
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches(&labels(obj)))
            && self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }

    /// The same answer as [`Filter::matches`], from what the watch cache keeps of an object.
    pub fn matches_cached(&self, obj: &CachedObject) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches(&obj.labels))
            && self
                .fields
                .as_ref()
                .is_none_or(|f| f.matches_set(&obj.fields))
    }
}

/// Where a paginated list continues: the revision it reads at and the next key.
fn encode_continue(revision: i64, next_key: &[u8]) -> String {
    use base64::Engine;
    let token = json!({"rv": revision, "start": String::from_utf8_lossy(next_key)});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str, prefix: &str) -> Result<(i64, String), ApiError> {
    use base64::Engine;
    let bad =
        || ApiError::bad_request("invalid value for continue: not a token this server issued");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .to_string();
    if !start.starts_with(prefix) {
        return Err(bad());
    }
    Ok((rv, start))
}

fn parse_rv(query: &HashMap<String, String>) -> Result<Option<i64>, ApiError> {
    match query.get("resourceVersion").map(String::as_str) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(&format!("invalid resource version: {s:?}"))),
    }
}

/// The items of a list and the revision they were read at.
#[derive(Debug)]
pub struct Listed<T = Value> {
    pub items: Vec<T>,
    pub revision: i64,
    pub continue_token: Option<String>,
}

/// Read matching objects under `prefix`, `limit` at most (0: all), paging through the store.
pub async fn read_list(
    store: &dyn Store,
    res: &ResourceInfo,
    prefix: &str,
    filter: &Filter,
    limit: usize,
    query: &HashMap<String, String>,
) -> Result<Listed, ApiError> {
    read_list_with(store, res, prefix, limit, query, |kv| {
        let obj = registry::from_storage(res, decode_stored(&kv.value, kv.mod_revision)?);
        Ok(filter.matches(&obj).then_some(obj))
    })
    .await
}

/// Read under `prefix`, `limit` items at most (0: all): `decode` turns a stored key-value into
/// an item, or `None` when it does not match.
pub async fn read_list_with<T>(
    store: &dyn Store,
    res: &ResourceInfo,
    prefix: &str,
    limit: usize,
    query: &HashMap<String, String>,
    mut decode: impl FnMut(&bosun_store::KeyValue) -> Result<Option<T>, ApiError>,
) -> Result<Listed<T>, ApiError> {
    let (mut revision, mut start) = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let (rv, start) = decode_continue(token, prefix)?;
            (rv, Some(start))
        }
        None => (0, None),
    };
    let rv = parse_rv(query)?;
    let exact = query.get("resourceVersionMatch").map(String::as_str) == Some("Exact");
    if revision == 0 && exact {
        revision = rv.unwrap_or(0);
    }
    // resourceVersion=0 means "any": serve from the local state without a quorum round trip.
    let consistency = if rv == Some(0) && start.is_none() {
        Consistency::Serializable
    } else {
        Consistency::Linearizable
    };
    let page = if limit == 0 { 0 } else { limit.max(100) };
    let mut items = Vec::new();
    loop {
        let mut req = RangeRequest::prefix(Bytes::from(prefix.to_string()))
            .with_limit(page)
            .at_revision(revision);
        req.start = start.clone().map(Bytes::from);
        req.consistency = consistency;
        let resp = store.range(req).await.map_err(|e| match e {
            bosun_store::Error::Compacted { .. } if query.contains_key("continue") => ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ),
            other => registry::store_error(res, "", other),
        })?;
        if revision == 0 {
            revision = resp.revision;
        }
        let mut last_key: Option<Bytes> = None;
        for kv in &resp.kvs {
            last_key = Some(kv.key.clone());
            if let Some(item) = decode(kv)? {
                items.push(item);
                if limit > 0 && items.len() == limit {
                    let more = resp.more
                        || kv.key != resp.kvs.last().map(|l| l.key.clone()).unwrap_or_default();
                    let token = more.then(|| {
                        let mut next = kv.key.to_vec();
                        next.push(0);
                        encode_continue(revision, &next)
                    });
                    return Ok(Listed {
                        items,
                        revision,
                        continue_token: token,
                    });
                }
            }
        }
        match (resp.more, last_key) {
            (true, Some(last)) => {
                let mut next = last.to_vec();
                next.push(0);
                start = Some(String::from_utf8_lossy(&next).into_owned());
            }
            _ => {
                return Ok(Listed {
                    items,
                    revision,
                    continue_token: None,
                });
            }
        }
    }
}

pub async fn list_or_watch(
    state: &AppState,
    target: &ObjectPath,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response> {
    let res = target.resource;
    let filter = Filter::from_query(res, query)?;
    let prefix = registry::prefix(res, target.namespace.as_deref());
    if query
        .get("watch")
        .is_some_and(|w| w == "true" || w == "1" || w == "True")
    {
        return watch(state, res, prefix, filter, query, headers).await;
    }
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(0);
    // resourceVersion=0 means "any": the watch cache answers (without paging, as Kubernetes'
    // cache does), when it is loaded.
    if parse_rv(query)? == Some(0) && query.get("continue").is_none_or(|c| c.is_empty()) {
        let cache = state.watch_caches().get(res);
        if cache.wait_ready(CACHE_READY_WAIT).await
            && let Ok(listed) = cache.list(&prefix)
        {
            let meta = json!({"resourceVersion": listed.revision.to_string()});
            if registry::converts(res) {
                // Stored in another resource's form: convert, then select.
                let values: Vec<Value> = listed
                    .objects
                    .iter()
                    .map(|o| registry::from_storage(res, o.value()))
                    .filter(|v| filter.matches(v))
                    .collect();
                return Ok(list_response(res, meta, values, headers, query));
            }
            let items: Vec<Arc<CachedObject>> = listed
                .objects
                .into_iter()
                .filter(|o| filter.matches_cached(o))
                .collect();
            if wants_table(headers) {
                let values: Vec<Value> = items.iter().map(|o| o.value()).collect();
                let table = bosun_api::table(
                    res,
                    &values,
                    std::time::SystemTime::now(),
                    meta,
                    include_object(query),
                );
                return Ok(json(StatusCode::OK, &table));
            }
            return Ok(splice_list(res, meta, items.iter().map(|o| &o.json[..]))?);
        }
    }
    if !wants_table(headers) && filter.fields.is_none() && !registry::converts(res) {
        return list_json_fast(state, res, &prefix, &filter, limit, query).await;
    }
    let listed = read_list(state.store(), res, &prefix, &filter, limit, query).await?;
    let mut meta = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(token) = &listed.continue_token {
        meta["continue"] = json!(token);
    }
    Ok(list_response(res, meta, listed.items, headers, query))
}

/// A list of decoded objects: a Table when asked, else the resource's List.
fn list_response(
    res: &ResourceInfo,
    meta: Value,
    items: Vec<Value>,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Response {
    if wants_table(headers) {
        let table = bosun_api::table(
            res,
            &items,
            std::time::SystemTime::now(),
            meta,
            include_object(query),
        );
        return json(StatusCode::OK, &table);
    }
    json(
        StatusCode::OK,
        &json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": meta, "items": items}),
    )
}

/// A plain JSON LIST without field selectors: the stored objects are spliced into the response
/// with their resourceVersion, decoding only their metadata (for label selectors).
async fn list_json_fast(
    state: &AppState,
    res: &ResourceInfo,
    prefix: &str,
    filter: &Filter,
    limit: usize,
    query: &HashMap<String, String>,
) -> Result<Response> {
    let listed = read_list_with(state.store(), res, prefix, limit, query, |kv| {
        let (bytes, labels) = crate::object::stored_json_with_rv(&kv.value, kv.mod_revision)?;
        let matches = filter.labels.as_ref().is_none_or(|l| l.matches(&labels));
        Ok(matches.then_some(bytes))
    })
    .await?;
    let mut meta = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(token) = &listed.continue_token {
        meta["continue"] = json!(token);
    }
    Ok(splice_list(
        res,
        meta,
        listed.items.iter().map(Vec::as_slice),
    )?)
}

/// A JSON list whose items are already-encoded objects, spliced in without decoding them.
fn splice_list<'a>(
    res: &ResourceInfo,
    meta: Value,
    items: impl Iterator<Item = &'a [u8]>,
) -> Result<Response, ApiError> {
    let head = json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": meta});
    let mut body = serde_json::to_vec(&head).map_err(|e| ApiError::internal(&e.to_string()))?;
    body.pop(); // the closing brace: items follow
    // Sized once: a list of 10,000 pods is megabytes, and growing it by doubling copies it
    // again at every step.
    let items: Vec<&[u8]> = items.collect();
    body.reserve(items.iter().map(|i| i.len() + 1).sum::<usize>() + 16);
    body.extend_from_slice(b",\"items\":[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// How long a request waits for a resource's watch cache to load on first use before it reads
/// the store instead.
const CACHE_READY_WAIT: Duration = Duration::from_secs(3);

/// How a watch renders objects: as they are, or as one-row Tables (`kubectl get -w`).
#[derive(Debug, Clone, Copy)]
struct Render {
    res: &'static ResourceInfo,
    as_table: bool,
    include: bosun_api::IncludeObject,
}

impl Render {
    fn value(&self, obj: &Value) -> Value {
        if self.as_table {
            bosun_api::table(
                self.res,
                std::slice::from_ref(obj),
                std::time::SystemTime::now(),
                json!({}),
                self.include,
            )
        } else {
            obj.clone()
        }
    }

    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        event_line(kind, &self.value(obj))
    }

    /// A cached (stored) object in the form of the watched resource, when that differs.
    fn converted(&self, obj: &CachedObject) -> Option<Value> {
        registry::converts(self.res).then(|| registry::from_storage(self.res, obj.value()))
    }

    /// Whether a cached object, in the watched resource's form, matches `filter`.
    fn matches(&self, filter: &Filter, obj: &CachedObject) -> bool {
        match self.converted(obj) {
            Some(v) => filter.matches(&v),
            None => filter.matches_cached(obj),
        }
    }

    /// An event line for a cached object: its JSON is spliced in unless a Table or another
    /// form is wanted.
    fn cached_line(&self, kind: &str, obj: &CachedObject) -> Bytes {
        if let Some(v) = self.converted(obj) {
            return self.line(kind, &v);
        }
        if self.as_table {
            return self.line(kind, &obj.value());
        }
        let mut line = Vec::with_capacity(obj.json.len() + 32);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        line.extend_from_slice(&obj.json);
        line.extend_from_slice(b"}\n");
        Bytes::from(line)
    }
}

/// What one change means to a watcher with `filter` on keys under `prefix`: an object that
/// stops matching is DELETED, one that starts matching ADDED.
fn cached_event_line(
    ev: &CachedEvent,
    prefix: &str,
    filter: &Filter,
    render: &Render,
) -> Option<Bytes> {
    if !ev.object.key.starts_with(prefix.as_bytes()) {
        return None;
    }
    let old_matches = ev.prev.as_ref().is_some_and(|o| render.matches(filter, o));
    match ev.kind {
        EventKind::Put => {
            let new_matches = render.matches(filter, &ev.object);
            match (new_matches, old_matches) {
                (true, true) => Some(render.cached_line("MODIFIED", &ev.object)),
                (true, false) => Some(render.cached_line("ADDED", &ev.object)),
                (false, true) => Some(render.cached_line("DELETED", &ev.object)),
                (false, false) => None,
            }
        }
        EventKind::Delete => old_matches.then(|| render.cached_line("DELETED", &ev.object)),
    }
}

/// WATCH: initial events when asked (resourceVersion unset or 0, or sendInitialEvents), then
/// every change after the start revision, filtered by the selectors (an object that stops
/// matching is seen as DELETED, one that starts matching as ADDED). Changes come from the
/// resource's watch cache; a watch from before the cache's window has a store watch of its own.
async fn watch(
    state: &AppState,
    res: &'static ResourceInfo,
    prefix: String,
    filter: Filter,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response> {
    // Held by the response stream below, whichever way it is served; dropped with it when the
    // watch ends or the client goes away.
    let slot = state.watch_slots().acquire()?;
    let store = state.store_arc();
    let rv = parse_rv(query)?;
    let send_initial = query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let render = Render {
        res,
        as_table: wants_table(headers),
        include: include_object(query),
    };
    let cache = state.watch_caches().get(res);
    let cache_ready = cache.wait_ready(CACHE_READY_WAIT).await;

    // The initial events, the revision the live part continues after, and the cache's watch
    // when it can serve it.
    let mut initial: Vec<Bytes> = Vec::new();
    let start_after: i64;
    let mut cached: Option<CacheWatch> = None;
    let wants_initial = send_initial || rv.is_none_or(|n| n == 0);
    let from_cache = if wants_initial && rv.is_some() && cache_ready {
        cache.list_and_watch(&prefix).ok()
    } else {
        None
    };
    if !wants_initial {
        start_after = rv.unwrap_or(0);
        if cache_ready {
            cached = cache.watch(start_after).ok();
        }
    } else if let Some((list, w)) = from_cache {
        for o in list.objects.iter().filter(|o| render.matches(&filter, o)) {
            initial.push(render.cached_line("ADDED", o));
        }
        start_after = list.revision;
        cached = Some(w);
    } else {
        // No resourceVersion: a consistent read of the store, then the changes after it.
        let no_query = HashMap::new();
        let listed = read_list(
            store.as_ref(),
            res,
            &prefix,
            &filter,
            0,
            if rv == Some(0) { query } else { &no_query },
        )
        .await?;
        for obj in &listed.items {
            initial.push(render.line("ADDED", obj));
        }
        start_after = listed.revision;
        if cache_ready {
            cached = cache.watch(start_after).ok();
        }
    }
    if send_initial {
        let bookmark = json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {
            "resourceVersion": start_after.to_string(),
            "annotations": {"k8s.io/initial-events-end": "true"}}});
        initial.push(event_line("BOOKMARK", &bookmark));
    }
    if cached.is_none() {
        // Each change is decoded again for this watcher alone: worth counting and logging.
        state.metrics().watch_from_store(res.plural);
        tracing::info!(
            resource = res.plural,
            start_after,
            cache_ready,
            "watch: served by a store watch of its own (the cache is not ready or its window starts after the revision)"
        );
    }
    let live = match cached {
        Some(w) => cache_live(w, start_after, prefix, filter, render, bookmarks, timeout),
        None => match store_live(
            &store,
            start_after,
            prefix,
            filter,
            render,
            bookmarks,
            timeout,
        )
        .await
        {
            Ok(live) => live,
            Err(early) => return Ok(early),
        },
    };
    let stream = futures::stream::iter(initial)
        .chain(live)
        .ready_chunks(COALESCED_LINES)
        .map(move |lines| {
            let _held = &slot;
            Ok::<Bytes, std::convert::Infallible>(join_lines(lines))
        });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

type LiveLines = futures::stream::BoxStream<'static, Bytes>;

/// At most this many watch events ready at once go out as one piece of the response body.
const COALESCED_LINES: usize = 64;

/// The events ready at once as one body frame: under a burst of changes a watcher gets one
/// chunk (one write, one TLS record where they fit) per batch instead of one per event. Each
/// line ends with its newline, so the client's line reader sees the same events.
fn join_lines(lines: Vec<Bytes>) -> Bytes {
    match <[Bytes; 1]>::try_from(lines) {
        Ok([one]) => one,
        Err(lines) => {
            let mut out = Vec::with_capacity(lines.iter().map(Bytes::len).sum());
            for line in &lines {
                out.extend_from_slice(line);
            }
            Bytes::from(out)
        }
    }
}

fn bookmark_line(res: &ResourceInfo, revision: i64) -> Bytes {
    let bm = json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {"resourceVersion": revision.to_string()}});
    event_line("BOOKMARK", &bm)
}

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

/// The live part of a watch served by the cache: its backlog, then its broadcast. A watcher
/// that falls behind the broadcast, or a cache that starts a new generation, ends the stream
/// (the client watches again from its last revision).
#[allow(clippy::too_many_arguments)]
fn cache_live(
    w: CacheWatch,
    after: i64,
    prefix: String,
    filter: Filter,
    render: Render,
    bookmarks: bool,
    timeout: Duration,
) -> LiveLines {
    let backlog: std::collections::VecDeque<_> = w.backlog.into();
    let deadline = tokio::time::Instant::now() + timeout;
    let res = render.res;
    futures::stream::unfold(
        (backlog, w.live, after.max(w.after), after, false),
        move |(mut backlog, mut live, skip_until, mut last_rev, done)| {
            let filter = filter.clone();
            let prefix = prefix.clone();
            async move {
                if done {
                    return None;
                }
                if let Some(ev) = backlog.pop_front() {
                    last_rev = last_rev.max(ev.revision);
                    let line = cached_event_line(&ev, &prefix, &filter, &render);
                    return Some((line.into_iter().collect::<Vec<_>>(), (backlog, live, skip_until, last_rev, false)));
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => None,
                    _ = tokio::time::sleep(BOOKMARK_EVERY), if bookmarks => {
                        Some((vec![bookmark_line(res, last_rev)], (backlog, live, skip_until, last_rev, false)))
                    }
                    next = live.recv() => match next {
                        Ok(ev) if ev.revision <= skip_until => Some((vec![], (backlog, live, skip_until, last_rev, false))),
                        Ok(ev) => {
                            last_rev = ev.revision;
                            let line = cached_event_line(&ev, &prefix, &filter, &render);
                            Some((line.into_iter().collect(), (backlog, live, skip_until, last_rev, false)))
                        }
                        Err(e) => {
                            // A watcher that fell behind the broadcast, or a cache that re-listed:
                            // the client watches again from its last revision.
                            tracing::info!(resource = res.plural, error = %e, last_rev, "watch: ending a watch served by the cache");
                            Some((vec![], (backlog, live, skip_until, last_rev, true)))
                        }
                    }
                }
            }
        },
    )
    .flat_map(futures::stream::iter)
    .boxed()
}

/// The live part of a watch served by a store watch of its own (a revision older than the
/// cache's window, or no cache yet). `Err` is the whole response when the revision is gone.
#[allow(clippy::too_many_arguments)]
async fn store_live(
    store: &Arc<dyn Store>,
    after: i64,
    prefix: String,
    filter: Filter,
    render: Render,
    bookmarks: bool,
    timeout: Duration,
) -> Result<LiveLines, Response> {
    let res = render.res;
    let start = after + 1;
    let expired = |requested: i64, compacted: i64| {
        let status = ApiError::expired(&format!(
            "too old resource version: {requested} ({compacted})"
        ))
        .to_status();
        event_line("ERROR", &status)
    };
    let events = match store
        .watch(WatchRequest::prefix(Bytes::from(prefix)).from_revision(start))
        .await
    {
        Ok(s) => s,
        Err(bosun_store::Error::Compacted {
            compact_revision, ..
        }) => {
            let body = Body::from(expired(after, compact_revision));
            return Err(([(header::CONTENT_TYPE, "application/json")], body).into_response());
        }
        Err(e) => {
            return Err(crate::response::Failure(registry::store_error(res, "", e)).into_response());
        }
    };
    let live = futures::stream::unfold(
        (events, after, tokio::time::Instant::now() + timeout, false),
        move |(mut events, mut last_rev, deadline, done)| {
            let filter = filter.clone();
            async move {
                if done {
                    return None;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => None,
                    _ = tokio::time::sleep(BOOKMARK_EVERY), if bookmarks => {
                        Some((vec![bookmark_line(res, last_rev)], (events, last_rev, deadline, false)))
                    }
                    next = events.next() => match next {
                        None => Some((vec![], (events, last_rev, deadline, true))),
                        Some(Err(bosun_store::Error::Compacted { requested, compact_revision })) => {
                            Some((vec![expired(requested, compact_revision)], (events, last_rev, deadline, true)))
                        }
                        Some(Err(e)) => {
                            let status = ApiError::internal(&e.to_string()).to_status();
                            Some((vec![event_line("ERROR", &status)], (events, last_rev, deadline, true)))
                        }
                        Some(Ok(ev)) => {
                            last_rev = ev.kv.mod_revision;
                            let new = (ev.kind == EventKind::Put).then(|| decode_stored(&ev.kv.value, ev.kv.mod_revision).ok()).flatten().map(|o| registry::from_storage(res, o));
                            let old = ev.prev.as_ref().and_then(|p| decode_stored(&p.value, p.mod_revision).ok()).map(|o| registry::from_storage(res, o));
                            let new_matches = new.as_ref().is_some_and(|o| filter.matches(o));
                            let old_matches = old.as_ref().is_some_and(|o| filter.matches(o));
                            let line = match (new, old) {
                                (Some(n), _) if new_matches && old_matches => Some(render.line("MODIFIED", &n)),
                                (Some(n), _) if new_matches => Some(render.line("ADDED", &n)),
                                (Some(n), Some(_)) if old_matches => Some(render.line("DELETED", &n)),
                                (None, Some(o)) if old_matches => {
                                    let gone = crate::object::with_resource_version(o, ev.kv.mod_revision);
                                    Some(render.line("DELETED", &gone))
                                }
                                _ => None,
                            };
                            Some((line.into_iter().collect(), (events, last_rev, deadline, false)))
                        }
                    }
                }
            }
        },
    )
    .flat_map(futures::stream::iter);
    Ok(live.boxed())
}

/// DELETE on a collection: delete every matching object (each as a single delete would).
pub async fn delete_collection(
    state: &AppState,
    target: &ObjectPath,
    query: &HashMap<String, String>,
) -> Result<Response> {
    let res = target.resource;
    let filter = Filter::from_query(res, query)?;
    let prefix = registry::prefix(res, target.namespace.as_deref());
    let listed = read_list(state.store(), res, &prefix, &filter, 0, &HashMap::new()).await?;
    let mut deleted = Vec::new();
    for obj in listed.items {
        let name = crate::object::meta_str(&obj, "name")
            .unwrap_or_default()
            .to_string();
        let ns = crate::object::meta_str(&obj, "namespace").map(String::from);
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match registry::delete(state.store(), res, ns.as_deref(), &name, rv).await {
            Ok((gone, _)) => deleted.push(gone),
            Err(e) if e.code() == 404 || e.code() == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(json(
        StatusCode::OK,
        &json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": {}, "items": deleted}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_events_join_into_one_frame_line_by_line() {
        let one = Bytes::from_static(b"{\"type\":\"ADDED\"}\n");
        // A single line goes out as it is, without a copy.
        let joined = join_lines(vec![one.clone()]);
        assert_eq!(joined.as_ptr(), one.as_ptr());
        let joined = join_lines(vec![
            one.clone(),
            Bytes::from_static(b"{\"type\":\"MODIFIED\"}\n"),
        ]);
        let lines: Vec<Value> = joined
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("a JSON line"))
            .collect();
        assert_eq!(
            lines,
            [json!({"type": "ADDED"}), json!({"type": "MODIFIED"})]
        );
    }

    /// Events ready together leave as one frame; the stream keeps their order and loses none.
    #[tokio::test]
    async fn a_burst_of_events_is_coalesced_in_order() {
        let lines: Vec<Bytes> = (0..150)
            .map(|i| Bytes::from(format!("{{\"n\":{i}}}\n")))
            .collect();
        let frames: Vec<Bytes> = futures::stream::iter(lines)
            .ready_chunks(COALESCED_LINES)
            .map(join_lines)
            .collect()
            .await;
        assert_eq!(frames.len(), 3, "150 ready events in frames of at most 64");
        let all: Vec<u8> = frames.concat();
        let ns: Vec<u64> = all
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice::<Value>(l).expect("json")["n"]
                    .as_u64()
                    .expect("n")
            })
            .collect();
        assert_eq!(ns, (0..150).collect::<Vec<_>>());
    }
}
