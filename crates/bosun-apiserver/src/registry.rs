//! Where objects live in the store and the store operations the handlers use: keys by
//! `/registry/<group>/<resource>/[<namespace>/]<name>`, JSON values, resourceVersion = the
//! store's mod revision.
//!
//! Some resources share storage with another: events.k8s.io/v1 `events` are stored as core/v1
//! `events` (as in Kubernetes), under the core prefix, and converted on the way in and out
//! ([`storage_resource`], [`to_storage`], [`from_storage`]).

use crate::object::{decode_stored, encode_for_store, with_resource_version};
use bosun_api::{ApiError, ResourceInfo};
use bosun_store::{Consistency, Error as StoreError, KeyValue, Store};
use bytes::Bytes;
use serde_json::Value;

/// The resource whose form and keys `res` is stored in: itself, or the core/v1 `events` for
/// events.k8s.io `events`.
pub fn storage_resource(res: &'static ResourceInfo) -> &'static ResourceInfo {
    if is_events_v1(res) {
        bosun_api::resources::find("", "v1", "events").unwrap_or(res)
    } else {
        res
    }
}

fn is_events_v1(res: &ResourceInfo) -> bool {
    res.group == "events.k8s.io" && res.plural == "events"
}

/// Whether objects of `res` are stored in another resource's form.
pub fn converts(res: &ResourceInfo) -> bool {
    is_events_v1(res)
}

/// An object of `res` in its stored form.
pub fn to_storage(res: &ResourceInfo, obj: Value) -> Value {
    if is_events_v1(res) {
        bosun_api::event_versions::events_v1_to_core(obj)
    } else {
        obj
    }
}

/// A stored object in the form of `res`.
pub fn from_storage(res: &ResourceInfo, obj: Value) -> Value {
    if is_events_v1(res) {
        bosun_api::event_versions::core_to_events_v1(obj)
    } else {
        obj
    }
}

/// The store prefix of a resource, in one namespace or in all (the storage resource's: see
/// [`storage_resource`]).
pub fn prefix(res: &ResourceInfo, namespace: Option<&str>) -> String {
    let (group, plural) = if is_events_v1(res) {
        ("", "events")
    } else {
        (res.group, res.plural)
    };
    let group = if group.is_empty() { "core" } else { group };
    match (res.namespaced, namespace) {
        (true, Some(ns)) => format!("/registry/{group}/{plural}/{ns}/"),
        _ => format!("/registry/{group}/{plural}/"),
    }
}

/// The store key of one object.
pub fn key(res: &ResourceInfo, namespace: Option<&str>, name: &str) -> String {
    format!("{}{name}", prefix(res, namespace))
}

/// Map a store error to the API error a client should see.
pub fn store_error(res: &ResourceInfo, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => ApiError::not_found(res, name),
        StoreError::AlreadyExists { .. } => ApiError::already_exists(res, name),
        StoreError::Conflict { .. } => ApiError::conflict(res, name),
        StoreError::Compacted {
            requested,
            compact_revision,
        } => ApiError::expired(&format!(
            "too old resource version: {requested} ({compact_revision})"
        )),
        StoreError::FutureRevision { requested, current } => ApiError::timeout(&format!(
            "Too large resource version: {requested}, current: {current}"
        )),
        StoreError::ValueTooLarge { size, max, .. } => ApiError::too_large(&format!(
            "the object is {size} bytes; the limit is {max} bytes"
        )),
        StoreError::InvalidArgument(m) => ApiError::bad_request(&m),
        StoreError::Unavailable(m) | StoreError::Fatal(m) => {
            ApiError::unavailable(&format!("storage: {m}"))
        }
        StoreError::Timeout(m) => ApiError::timeout(&format!("storage: {m}")),
    }
}

/// An object with the revision it was read at.
#[derive(Debug, Clone)]
pub struct Stored {
    pub object: Value,
    pub mod_revision: i64,
}

pub async fn get(
    store: &dyn Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<Stored, ApiError> {
    get_at(store, res, ns, name, Consistency::Linearizable).await
}

/// [`get`] at a chosen consistency: `Serializable` reads this replica's copy, which may lag the
/// leader; a compare-and-swap written from it fails rather than overwrite a newer object.
pub async fn get_at(
    store: &dyn Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    consistency: Consistency,
) -> Result<Stored, ApiError> {
    let (value, mod_revision) = get_raw_at(store, res, ns, name, consistency).await?;
    Ok(Stored {
        object: from_storage(res, decode_stored(&value, mod_revision)?),
        mod_revision,
    })
}

/// A stored object's bytes as they are stored, with the revision they were read at, for a
/// caller that edits a few members without decoding the whole object (the pod binding).
pub async fn get_raw_at(
    store: &dyn Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    consistency: Consistency,
) -> Result<(Bytes, i64), ApiError> {
    let k = key(res, ns, name);
    match store.get(k.as_bytes(), consistency).await {
        Ok(Some(kv)) => Ok((kv.value, kv.mod_revision)),
        Ok(None) => Err(ApiError::not_found(res, name)),
        Err(e) => Err(store_error(res, name, e)),
    }
}

/// Write already-encoded `bytes` (of an object stored in its own form) over the stored object,
/// if that is still at revision `expected`; the key-value written.
pub async fn update_raw(
    store: &dyn Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    bytes: Vec<u8>,
    expected: i64,
) -> Result<KeyValue, ApiError> {
    crate::object::check_size(bytes.len())?;
    store
        .update(
            Bytes::from(key(res, ns, name)),
            Bytes::from(bytes),
            expected,
        )
        .await
        .map_err(|e| store_error(res, name, e))
}

pub async fn create(
    store: &dyn Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    obj: &Value,
) -> Result<Value, ApiError> {
    let bytes = storage_bytes(res, obj)?;
    let kv = store
        .create(Bytes::from(key(res, ns, name)), Bytes::from(bytes))
        .await
        .map_err(|e| store_error(res, name, e))?;
    written(res, obj.clone(), &kv)
}

/// Write `obj` over the stored object, if that is still at revision `expected`; the object as
/// written.
pub async fn update(
    store: &dyn Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    obj: Value,
    expected: i64,
) -> Result<Value, ApiError> {
    let bytes = storage_bytes(res, &obj)?;
    let kv = update_raw(store, res, ns, name, bytes, expected).await?;
    written(res, obj, &kv)
}

/// The bytes `obj` is stored as.
fn storage_bytes(res: &ResourceInfo, obj: &Value) -> Result<Vec<u8>, ApiError> {
    if is_events_v1(res) {
        encode_for_store(&to_storage(res, obj.clone()))
    } else {
        encode_for_store(obj)
    }
}

/// The object a write stored, in the form of `res`: the object written, with the write's
/// revision as its resourceVersion. Decoding the stored bytes again would give the same object
/// at the cost of a parse; only events.k8s.io, stored in the core form, is converted back.
fn written(res: &ResourceInfo, obj: Value, kv: &KeyValue) -> Result<Value, ApiError> {
    if is_events_v1(res) {
        return Ok(from_storage(
            res,
            decode_stored(&kv.value, kv.mod_revision)?,
        ));
    }
    Ok(with_resource_version(obj, kv.mod_revision))
}

pub async fn delete(
    store: &dyn Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    expected: i64,
) -> Result<(Value, i64), ApiError> {
    let (kv, revision) = store
        .delete(Bytes::from(key(res, ns, name)), Some(expected))
        .await
        .map_err(|e| store_error(res, name, e))?;
    Ok((
        from_storage(res, decode_stored(&kv.value, revision)?),
        revision,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_api::resources::find;
    use serde_json::json;

    #[test]
    fn both_event_apis_share_the_core_prefix_and_form() {
        let core = find("", "v1", "events").expect("core events");
        let v1 = find("events.k8s.io", "v1", "events").expect("events.k8s.io");
        assert_eq!(prefix(v1, Some("ns")), prefix(core, Some("ns")));
        assert_eq!(prefix(v1, None), "/registry/core/events/");
        assert_eq!(key(v1, Some("ns"), "e"), "/registry/core/events/ns/e");
        assert_eq!(storage_resource(v1), core);
        assert!(converts(v1) && !converts(core));
        let stored = to_storage(v1, json!({"apiVersion": "events.k8s.io/v1", "note": "n"}));
        assert_eq!(stored["message"], "n");
        assert_eq!(from_storage(v1, stored)["note"], "n");
        let deployments = find("apps", "v1", "deployments").expect("deployments");
        assert_eq!(prefix(deployments, None), "/registry/apps/deployments/");
        assert_eq!(to_storage(deployments, json!({"a": 1})), json!({"a": 1}));
    }
}
