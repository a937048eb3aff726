//! LIST (with label and field selectors, limit/continue and resourceVersion), WATCH (the
//! Kubernetes wire format: one JSON event per line), and DELETE of a collection.

use crate::object::{decode_stored, labels};
use crate::path::ObjectPath;
use crate::registry;
use crate::response::{Result, include_object, json, wants_table};
use crate::state::AppState;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bosun_api::{ApiError, FieldSelector, LabelSelector, ResourceInfo};
use bosun_store::{Consistency, EventKind, RangeRequest, Store, WatchRequest};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
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

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches(&labels(obj)))
            && self.fields.as_ref().is_none_or(|f| f.matches(obj))
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
        let obj = decode_stored(&kv.value, kv.mod_revision)?;
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
    if !wants_table(headers) && filter.fields.is_none() {
        return list_json_fast(state, res, &prefix, &filter, limit, query).await;
    }
    let listed = read_list(state.store(), res, &prefix, &filter, limit, query).await?;
    let mut meta = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(token) = &listed.continue_token {
        meta["continue"] = json!(token);
    }
    if wants_table(headers) {
        let table = bosun_api::table(
            res,
            &listed.items,
            std::time::SystemTime::now(),
            meta,
            include_object(query),
        );
        return Ok(json(StatusCode::OK, &table));
    }
    Ok(json(
        StatusCode::OK,
        &json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": meta, "items": listed.items}),
    ))
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
        let (bytes, meta) = crate::object::stored_json_with_rv(&kv.value, kv.mod_revision)?;
        let matches = filter
            .labels
            .as_ref()
            .is_none_or(|l| l.matches(&labels(&json!({"metadata": meta}))));
        Ok(matches.then_some(bytes))
    })
    .await?;
    let mut meta = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(token) = &listed.continue_token {
        meta["continue"] = json!(token);
    }
    let head = json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": meta});
    let mut body = serde_json::to_vec(&head).map_err(|e| ApiError::internal(&e.to_string()))?;
    body.pop(); // the closing brace: items follow
    body.extend_from_slice(b",\"items\":[");
    for (i, item) in listed.items.iter().enumerate() {
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

/// WATCH: initial events when asked (resourceVersion unset or 0, or sendInitialEvents), then
/// every change after the start revision, filtered by the selectors (an object that stops
/// matching is seen as DELETED, one that starts matching as ADDED).
async fn watch(
    state: &AppState,
    res: &'static ResourceInfo,
    prefix: String,
    filter: Filter,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response> {
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
    let as_table = wants_table(headers);
    let include = include_object(query);
    let render = move |obj: &Value| -> Value {
        if as_table {
            bosun_api::table(
                res,
                std::slice::from_ref(obj),
                std::time::SystemTime::now(),
                json!({}),
                include,
            )
        } else {
            obj.clone()
        }
    };

    let mut initial: Vec<Bytes> = Vec::new();
    let start = match rv {
        Some(n) if n > 0 && !send_initial => n + 1,
        _ => {
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
                initial.push(event_line("ADDED", &render(obj)));
            }
            if send_initial {
                let bookmark = json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {
                    "resourceVersion": listed.revision.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"}}});
                initial.push(event_line("BOOKMARK", &bookmark));
            }
            listed.revision + 1
        }
    };
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
            let body = Body::from(expired(start - 1, compact_revision));
            return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
        }
        Err(e) => return Err(registry::store_error(res, "", e).into()),
    };
    state.metrics().watch_opened();
    let metrics = state.metrics().clone();
    let kind = res.kind;
    let api_version = res.api_version();
    let live = futures::stream::unfold(
        (events, start - 1, tokio::time::Instant::now() + timeout, false, metrics),
        move |(mut events, mut last_rev, deadline, done, metrics)| {
            let filter = filter.clone();
            let api_version = api_version.clone();
            async move {
                if done {
                    metrics.watch_closed();
                    return None;
                }
                let bookmark_every = tokio::time::sleep(Duration::from_secs(if bookmarks { 60 } else { 3600 }));
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => { metrics.watch_closed(); None }
                    _ = bookmark_every, if bookmarks => {
                        let bm = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last_rev.to_string()}});
                        Some((vec![event_line("BOOKMARK", &bm)], (events, last_rev, deadline, false, metrics)))
                    }
                    next = events.next() => match next {
                        None => Some((vec![], (events, last_rev, deadline, true, metrics))),
                        Some(Err(bosun_store::Error::Compacted { requested, compact_revision })) => {
                            Some((vec![expired(requested, compact_revision)], (events, last_rev, deadline, true, metrics)))
                        }
                        Some(Err(e)) => {
                            let status = ApiError::internal(&e.to_string()).to_status();
                            Some((vec![event_line("ERROR", &status)], (events, last_rev, deadline, true, metrics)))
                        }
                        Some(Ok(ev)) => {
                            last_rev = ev.kv.mod_revision;
                            let new = (ev.kind == EventKind::Put).then(|| decode_stored(&ev.kv.value, ev.kv.mod_revision).ok()).flatten();
                            let old = ev.prev.as_ref().and_then(|p| decode_stored(&p.value, p.mod_revision).ok());
                            let new_matches = new.as_ref().is_some_and(|o| filter.matches(o));
                            let old_matches = old.as_ref().is_some_and(|o| filter.matches(o));
                            let line = match (new, old) {
                                (Some(n), _) if new_matches && old_matches => Some(event_line("MODIFIED", &render(&n))),
                                (Some(n), _) if new_matches => Some(event_line("ADDED", &render(&n))),
                                (Some(n), Some(_)) if old_matches => {
                                    Some(event_line("DELETED", &render(&n)))
                                }
                                (None, Some(o)) if old_matches => {
                                    let gone = crate::object::with_resource_version(o, ev.kv.mod_revision);
                                    Some(event_line("DELETED", &render(&gone)))
                                }
                                _ => None,
                            };
                            Some((line.into_iter().collect(), (events, last_rev, deadline, false, metrics)))
                        }
                    }
                }
            }
        },
    )
    .flat_map(futures::stream::iter);
    let stream = futures::stream::iter(initial)
        .chain(live)
        .map(Ok::<Bytes, std::convert::Infallible>);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
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
