//! [`LocalStore`]: an [`Mvcc`] state behind a lock, with a watch hub. It is the in-memory
//! backend ([`MemoryStore`]) and the state machine the raft backend applies committed entries to.
//!
//! Watches replay the history from their start revision, then follow live changes through a
//! broadcast channel that carries one batch per revision. A watcher that falls behind the channel,
//! or whose state was replaced by a snapshot, re-reads the history from the last revision it
//! delivered, so the stream never has gaps or duplicates; when that history has been compacted
//! away the stream ends with [`Error::Compacted`].

use crate::error::{Error, Result};
use crate::mvcc::Mvcc;
use crate::store::{Store, WatchStream};
use crate::types::{Event, RangeRequest, RangeResponse, Revision, Txn, TxnResponse, WatchRequest};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::broadcast;

/// How many revisions a watcher may lag behind before it re-reads the history.
const WATCH_CHANNEL_REVISIONS: usize = 4096;

/// The events of one revision.
type Batch = Arc<(Revision, Vec<Event>)>;

#[derive(Debug)]
struct Inner {
    mvcc: Mvcc,
    /// `None` once the store is closed.
    tx: Option<broadcast::Sender<Batch>>,
}

/// An in-process multi-version store with watches. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct LocalStore {
    inner: Arc<RwLock<Inner>>,
}

/// The in-memory backend, for tests of the layers above the store.
pub type MemoryStore = LocalStore;

impl Default for LocalStore {
    fn default() -> Self {
        Self::new(Mvcc::new())
    }
}

impl LocalStore {
    pub fn new(mvcc: Mvcc) -> Self {
        let (tx, _) = broadcast::channel(WATCH_CHANNEL_REVISIONS);
        Self {
            inner: Arc::new(RwLock::new(Inner { mvcc, tx: Some(tx) })),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the state half-changed: `Mvcc::apply`
        // validates before it mutates. So a poisoned lock is still consistent.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Apply a transaction and publish its events to watchers.
    pub fn apply(&self, txn: &Txn) -> Result<TxnResponse> {
        let mut inner = self.write();
        if inner.tx.is_none() {
            return Err(Error::Fatal("store closed".into()));
        }
        let (resp, events) = inner.mvcc.apply(txn)?;
        if !events.is_empty()
            && let Some(tx) = &inner.tx
        {
            // No receiver is fine: nobody watches.
            let _ = tx.send(Arc::new((resp.revision, events)));
        }
        Ok(resp)
    }

    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        self.read().mvcc.range(req)
    }

    pub fn revision(&self) -> Revision {
        self.read().mvcc.revision()
    }

    pub fn compact(&self, revision: Revision) -> Result<()> {
        self.write().mvcc.compact(revision)
    }

    /// A copy of the whole state (values are shared, not copied), e.g. to write a snapshot.
    pub fn state(&self) -> Mvcc {
        self.read().mvcc.clone()
    }

    /// Run `f` on the state under the read lock.
    pub fn with_state<T>(&self, f: impl FnOnce(&Mvcc) -> T) -> T {
        f(&self.read().mvcc)
    }

    /// Replace the whole state (installing a snapshot). Watchers re-read the history from the
    /// revision they reached; if the new state no longer holds it they end with `Compacted`.
    pub fn replace(&self, mvcc: Mvcc) {
        let mut inner = self.write();
        inner.mvcc = mvcc;
        if inner.tx.is_some() {
            // Dropping the old sender wakes every watcher with `Closed`, which makes it resync.
            inner.tx = Some(broadcast::channel(WATCH_CHANNEL_REVISIONS).0);
        }
    }

    /// Stop serving: every watch ends with [`Error::Fatal`], every write fails.
    pub fn close(&self) {
        self.write().tx = None;
    }

    /// Start a watch (see the module doc).
    pub fn watch_stream(&self, req: &WatchRequest) -> Result<WatchStream> {
        let mut watcher = Watcher {
            store: self.clone(),
            prefix: req.prefix.clone(),
            min_revision: req.start_revision,
            synced: 0,
            backlog: VecDeque::new(),
            rx: None,
        };
        watcher.sync()?;
        Ok(Box::pin(futures::stream::unfold(
            Some(watcher),
            |state| async move {
                let mut watcher = state?;
                match watcher.next().await {
                    Ok(event) => Some((Ok(event), Some(watcher))),
                    Err(e) => Some((Err(e), None)),
                }
            },
        )))
    }
}

struct Watcher {
    store: LocalStore,
    prefix: Bytes,
    /// Deliver only events at or after this revision (0: after the current revision at start).
    min_revision: Revision,
    /// Every event up to this revision has been queued.
    synced: Revision,
    backlog: VecDeque<Event>,
    rx: Option<broadcast::Receiver<Batch>>,
}

impl Watcher {
    /// Queue the history since the last synced revision and subscribe, under one lock, so no
    /// revision is missed or seen twice.
    fn sync(&mut self) -> Result<()> {
        let inner = self.store.read();
        let Some(tx) = &inner.tx else {
            return Err(Error::Fatal("store closed".into()));
        };
        let current = inner.mvcc.revision();
        if self.min_revision == 0 {
            self.min_revision = current + 1;
        }
        let from = (self.synced + 1).max(self.min_revision);
        if from <= current {
            self.backlog
                .extend(inner.mvcc.events_since(&self.prefix, from)?);
        }
        self.synced = current.max(self.min_revision - 1);
        self.rx = Some(tx.subscribe());
        Ok(())
    }

    async fn next(&mut self) -> Result<Event> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                return Ok(event);
            }
            let Some(rx) = self.rx.as_mut() else {
                return Err(Error::Fatal("store closed".into()));
            };
            match rx.recv().await {
                Ok(batch) => {
                    let (revision, events) = &*batch;
                    if *revision <= self.synced {
                        continue;
                    }
                    if *revision != self.synced + 1 {
                        self.sync()?;
                        continue;
                    }
                    self.backlog.extend(
                        events
                            .iter()
                            .filter(|e| e.kv.key.starts_with(&self.prefix))
                            .cloned(),
                    );
                    self.synced = *revision;
                }
                Err(broadcast::error::RecvError::Lagged(_))
                | Err(broadcast::error::RecvError::Closed) => {
                    // Lagged: re-read what was missed. Closed: the state was replaced by a
                    // snapshot (resync) or the store was closed (sync fails with Fatal).
                    self.sync()?;
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Store for LocalStore {
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.apply(&txn)
    }
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        LocalStore::range(self, &req)
    }
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        self.watch_stream(&req)
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        LocalStore::compact(self, revision)
    }
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.revision())
    }
}
