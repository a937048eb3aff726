//! Where objects live in the store and the store operations the handlers use: keys by
//! `/registry/<group>/<resource>/[<namespace>/]<name>`, JSON values, resourceVersion = the
//! store's mod revision.

use crate::object::{decode_stored, encode_for_store};
use bosun_api::{ApiError, ResourceInfo};
use bosun_store::{Consistency, Error as StoreError, Store};
use bytes::Bytes;
use serde_json::Value;

/// The store prefix of a resource, in one namespace or in all.
pub fn prefix(res: &ResourceInfo, namespace: Option<&str>) -> String {
    let group = if res.group.is_empty() {
        "core"
    } else {
        res.group
    };
    match (res.namespaced, namespace) {
        (true, Some(ns)) => format!("/registry/{group}/{}/{ns}/", res.plural),
        _ => format!("/registry/{group}/{}/", res.plural),
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
    let k = key(res, ns, name);
    match store.get(k.as_bytes(), Consistency::Linearizable).await {
        Ok(Some(kv)) => Ok(Stored {
            object: decode_stored(&kv.value, kv.mod_revision)?,
            mod_revision: kv.mod_revision,
        }),
        Ok(None) => Err(ApiError::not_found(res, name)),
        Err(e) => Err(store_error(res, name, e)),
    }
}

pub async fn create(
    store: &dyn Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    obj: &Value,
) -> Result<Value, ApiError> {
    let bytes = encode_for_store(obj)?;
    let kv = store
        .create(Bytes::from(key(res, ns, name)), Bytes::from(bytes))
        .await
        .map_err(|e| store_error(res, name, e))?;
    decode_stored(&kv.value, kv.mod_revision)
}

pub async fn update(
    store: &dyn Store,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    obj: &Value,
    expected: i64,
) -> Result<Value, ApiError> {
    let bytes = encode_for_store(obj)?;
    let kv = store
        .update(
            Bytes::from(key(res, ns, name)),
            Bytes::from(bytes),
            expected,
        )
        .await
        .map_err(|e| store_error(res, name, e))?;
    decode_stored(&kv.value, kv.mod_revision)
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
    Ok((decode_stored(&kv.value, revision)?, revision))
}
