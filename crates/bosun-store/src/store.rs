//! The [`Store`] trait: etcd's KV and Watch, as bosun needs them.
//!
//! Backends implement five primitives (`txn`, `range`, `watch`, `compact`, `current_revision`);
//! the everyday operations (`get`, `create`, `update`, `delete`, `put`) are provided on top of
//! `txn` so that every backend gives them exactly the same meaning.

use crate::error::{Error, Result};
use crate::types::{
    Compare, Consistency, Event, KeyValue, Op, OpResult, RangeRequest, RangeResponse, Revision,
    Txn, TxnResponse, WatchRequest,
};
use bytes::Bytes;
use futures::stream::BoxStream;

/// A stream of changes, in revision order, without gaps or duplicates. It ends with an error
/// when the watch cannot continue (e.g. [`Error::Compacted`] after falling too far behind).
pub type WatchStream = BoxStream<'static, Result<Event>>;

/// A key-value store with etcd's semantics.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Apply a compare-and-apply transaction atomically.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse>;

    /// Read the keys under a prefix, at the latest or a given revision.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse>;

    /// Watch the keys under a prefix from a revision. The stream yields every put and delete
    /// with `revision >= start_revision`, each with its previous value.
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream>;

    /// Forget the history before `revision`: reads and watches below it get
    /// [`Error::Compacted`].
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The current revision (linearizable).
    async fn current_revision(&self) -> Result<Revision>;

    /// Read one key.
    async fn get(&self, key: &[u8], consistency: Consistency) -> Result<Option<KeyValue>> {
        let mut req = RangeRequest::prefix(Bytes::copy_from_slice(key)).with_limit(1);
        req.consistency = consistency;
        let resp = self.range(req).await?;
        Ok(resp.kvs.into_iter().find(|kv| kv.key.as_ref() == key))
    }

    /// Write a key that must not exist yet; returns the new key-value.
    async fn create(&self, key: Bytes, value: Bytes) -> Result<KeyValue> {
        let txn = Txn::new()
            .when([Compare::absent(key.clone())])
            .and_then([Op::put(key.clone(), value.clone())]);
        let resp = self.txn(txn).await?;
        if !resp.succeeded {
            return Err(Error::AlreadyExists { key });
        }
        Ok(KeyValue {
            key,
            value,
            create_revision: resp.revision,
            mod_revision: resp.revision,
            version: 1,
        })
    }

    /// Replace a key whose mod revision is `expected`; returns the new key-value.
    async fn update(&self, key: Bytes, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let txn = Txn::new()
            .when([
                Compare::mod_revision(key.clone(), expected),
                Compare::exists(key.clone()),
            ])
            .and_then([Op::put(key.clone(), value.clone())])
            .or_else([Op::get(key.clone())]);
        let resp = self.txn(txn).await?;
        match resp.results.into_iter().next() {
            Some(OpResult::Put { prev: Some(prev) }) if resp.succeeded => Ok(KeyValue {
                key,
                value,
                create_revision: prev.create_revision,
                mod_revision: resp.revision,
                version: prev.version + 1,
            }),
            Some(OpResult::Get { kv: Some(current) }) => Err(Error::Conflict {
                key,
                expected,
                current: current.mod_revision,
                revision: resp.revision,
            }),
            _ => Err(Error::NotFound { key }),
        }
    }

    /// Write a key whatever its state; returns the new key-value.
    async fn put(&self, key: Bytes, value: Bytes) -> Result<KeyValue> {
        let resp = self
            .txn(Txn::new().and_then([Op::put(key.clone(), value.clone())]))
            .await?;
        let prev = match resp.results.into_iter().next() {
            Some(OpResult::Put { prev }) => prev,
            _ => None,
        };
        Ok(KeyValue {
            key,
            value,
            create_revision: prev.as_ref().map_or(resp.revision, |p| p.create_revision),
            mod_revision: resp.revision,
            version: prev.map_or(1, |p| p.version + 1),
        })
    }

    /// Delete a key, only if its mod revision is `expected` when given; returns the deleted
    /// key-value and the revision of the delete.
    async fn delete(&self, key: Bytes, expected: Option<Revision>) -> Result<(KeyValue, Revision)> {
        let mut compare = vec![Compare::exists(key.clone())];
        if let Some(rev) = expected {
            compare.push(Compare::mod_revision(key.clone(), rev));
        }
        let txn = Txn::new()
            .when(compare)
            .and_then([Op::delete(key.clone())])
            .or_else([Op::get(key.clone())]);
        let resp = self.txn(txn).await?;
        match resp.results.into_iter().next() {
            Some(OpResult::Delete { prev: Some(prev) }) if resp.succeeded => {
                Ok((prev, resp.revision))
            }
            Some(OpResult::Get { kv: Some(current) }) => Err(Error::Conflict {
                key,
                expected: expected.unwrap_or_default(),
                current: current.mod_revision,
                revision: resp.revision,
            }),
            _ => Err(Error::NotFound { key }),
        }
    }
}

/// Checks every backend applies before a transaction reaches it: non-empty keys, values within
/// [`crate::MAX_VALUE_BYTES`], and no key written twice in one branch (etcd's rule).
pub fn validate_txn(txn: &Txn) -> Result<()> {
    for branch in [&txn.success, &txn.failure] {
        let mut written: Vec<&Bytes> = Vec::new();
        for op in branch {
            let key = op.key();
            if key.is_empty() {
                return Err(Error::InvalidArgument("empty key".into()));
            }
            if let Op::Put { value, .. } = op
                && value.len() > crate::types::MAX_VALUE_BYTES
            {
                return Err(Error::ValueTooLarge {
                    key: key.clone(),
                    size: value.len(),
                    max: crate::types::MAX_VALUE_BYTES,
                });
            }
            if !matches!(op, Op::Get { .. }) {
                if written.contains(&key) {
                    return Err(Error::InvalidArgument(format!(
                        "key {:?} is written more than once in one transaction",
                        String::from_utf8_lossy(key)
                    )));
                }
                written.push(key);
            }
        }
    }
    if txn.compare.iter().any(|c| c.key.is_empty()) {
        return Err(Error::InvalidArgument("empty key in a comparison".into()));
    }
    Ok(())
}
