//! The raft log and vote, persisted in a redb database (`raft.redb` in the data dir).
//!
//! Every append, truncate, purge and vote is one redb transaction committed with
//! `Durability::Immediate` (fsync) before openraft is told it is done, so an acknowledged write is
//! on disk on a quorum. The committed log id is saved without fsync: it only speeds up restarts
//! (openraft re-applies up to it) and is never needed for safety: a member that resumes as
//! leader at start does not trust it for reads but waits for its log's end
//! (`member::ResumedLeadership`).
//!
//! A purge only records how far the log is purged (a small transaction); the purged entries
//! are deleted a few at a time by the appends that follow, in their transactions. Deleting
//! them at once (19,000 entries after a snapshot: 60-140 ms) held up every append behind it,
//! longer than openraft waits for a follower's answer (the heartbeat interval), on every
//! member at the same moment. Entries at or below the purge point that are still on disk are
//! never read.
//!
//! The database also records which cluster and member the data dir belongs to; opening it for
//! another refuses to start.

// openraft fixes the error type of storage methods (`StorageError`, 200+ bytes); boxing it here
// would only move the allocation.
#![allow(clippy::result_large_err)]

use crate::types::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, StorageIOError};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "last_purged";
const KEY_IDENTITY: &str = "identity";

/// Why a log store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: cannot open the raft log (corrupt, truncated or unreadable): {source}")]
    Corrupt { path: PathBuf, source: redb::Error },
    #[error(
        "{path}: this data dir belongs to cluster {found_cluster:?} member {found_member}, \
         not cluster {cluster:?} member {member}; refusing to start"
    )]
    WrongCluster {
        path: PathBuf,
        found_cluster: String,
        found_member: NodeId,
        cluster: String,
        member: NodeId,
    },
}

/// Purged entries each append deletes (see the module's documentation).
const PURGE_CHUNK: u64 = 64;

/// The redb-backed log store. Cheap to clone; clones share the database.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    /// The index the log is purged through, while entries up to it may still be on disk.
    purged_through: Arc<std::sync::Mutex<Option<u64>>>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").finish_non_exhaustive()
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

fn io_err(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: impl std::error::Error + Send + Sync + 'static,
) -> StorageError {
    StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}

impl LogStore {
    /// Open (or create) `dir/raft.redb` for `cluster` member `member`.
    pub fn open(
        dir: &Path,
        cluster: &str,
        member: NodeId,
        cache_bytes: usize,
    ) -> Result<Self, OpenError> {
        let path = dir.join("raft.redb");
        let corrupt = |source: redb::Error| OpenError::Corrupt {
            path: path.clone(),
            source,
        };
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(&path)
            .map_err(|e| corrupt(e.into()))?;
        let mut store = Self {
            db: Arc::new(db),
            purged_through: Arc::default(),
        };
        let found: Option<(String, NodeId)> = store.read_meta(KEY_IDENTITY).map_err(|e| {
            corrupt(redb::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.to_string(),
            )))
        })?;
        match found {
            Some((found_cluster, found_member))
                if found_cluster != cluster || found_member != member =>
            {
                return Err(OpenError::WrongCluster {
                    path,
                    found_cluster,
                    found_member,
                    cluster: cluster.to_string(),
                    member,
                });
            }
            Some(_) => {}
            None => store
                .write_meta(
                    KEY_IDENTITY,
                    &(cluster.to_string(), member),
                    Durability::Immediate,
                )
                .map_err(|e| corrupt(redb::Error::Io(std::io::Error::other(e.to_string()))))?,
        }
        let purged = store
            .read_meta::<Option<LogId>>(KEY_PURGED)
            .map_err(|e| corrupt(redb::Error::Io(std::io::Error::other(e.to_string()))))?
            .flatten();
        store.purged_through = Arc::new(std::sync::Mutex::new(purged.map(|l| l.index)));
        Ok(store)
    }

    /// The saved vote and the last log id, as openraft will find them when it starts.
    pub(crate) async fn saved_position(
        &mut self,
    ) -> Result<(Option<Vote>, Option<LogId>), StorageError> {
        let vote = self.read_vote().await?;
        Ok((vote, self.get_log_state().await?.last_log_id))
    }

    fn purge_point(&self) -> Option<u64> {
        *self
            .purged_through
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let read = |e: redb::Error| io_err(ErrorSubject::Store, ErrorVerb::Read, e);
        let txn = self.db.begin_read().map_err(|e| read(e.into()))?;
        let table = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(read(e.into())),
        };
        let Some(raw) = table.get(key).map_err(|e| read(e.into()))? else {
            return Ok(None);
        };
        decode(raw.value())
            .map(Some)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))
    }

    fn write_meta<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        durability: Durability,
    ) -> Result<(), StorageError> {
        write_meta(&self.db, key, value, durability)
    }

    /// Run a blocking write off the async runtime's worker threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, StorageError> {
        let read = |e: redb::Error| io_err(ErrorSubject::Logs, ErrorVerb::Read, e);
        let txn = self.db.begin_read().map_err(|e| read(e.into()))?;
        let table = match txn.open_table(LOGS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(read(e.into())),
        };
        let Some((_, raw)) = table.last().map_err(|e| read(e.into()))? else {
            return Ok(None);
        };
        let entry: Entry =
            decode(raw.value()).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        Ok(Some(entry.log_id))
    }
}

/// Delete up to [`PURGE_CHUNK`] of the entries at or below `through` still in `table`;
/// whether some are left.
fn delete_purged(
    table: &mut redb::Table<u64, &[u8]>,
    through: u64,
) -> Result<bool, redb::StorageError> {
    let Some(first) = table.first()?.map(|(k, _)| k.value()) else {
        return Ok(false);
    };
    if first > through {
        return Ok(false);
    }
    let last = through.min(first + PURGE_CHUNK - 1);
    table.retain_in(first..=last, |_, _| false)?;
    Ok(last < through)
}

fn write_meta<T: Serialize>(
    db: &Database,
    key: &str,
    value: &T,
    durability: Durability,
) -> Result<(), StorageError> {
    let write = |e: redb::Error| io_err(ErrorSubject::Store, ErrorVerb::Write, e);
    let bytes = encode(value).map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
    let mut txn = db.begin_write().map_err(|e| write(e.into()))?;
    txn.set_durability(durability)
        .map_err(|e| write(e.into()))?;
    {
        let mut table = txn.open_table(META).map_err(|e| write(e.into()))?;
        table
            .insert(key, bytes.as_slice())
            .map_err(|e| write(e.into()))?;
    }
    txn.commit().map_err(|e| write(e.into()))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let read = |e: redb::Error| io_err(ErrorSubject::Logs, ErrorVerb::Read, e);
        let txn = self.db.begin_read().map_err(|e| read(e.into()))?;
        let table = match txn.open_table(LOGS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(read(e.into())),
        };
        let bounds: (Bound<u64>, Bound<u64>) =
            (range.start_bound().cloned(), range.end_bound().cloned());
        let mut entries = Vec::new();
        let purged = self.purge_point();
        for item in table.range::<u64>(bounds).map_err(|e| read(e.into()))? {
            let (index, raw) = item.map_err(|e| read(e.into()))?;
            if purged.is_some_and(|p| index.value() <= p) {
                continue; // purged, not yet deleted
            }
            entries.push(
                decode(raw.value()).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?,
            );
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        // Stored as an Option (see `purge`): decoded as a bare LogId it read its tag as the
        // term and every field shifted by one, so a restarted member misplaced its log's start.
        let last_purged_log_id = self.read_meta::<Option<LogId>>(KEY_PURGED)?.flatten();
        // Purged entries may still be on disk: the last one is never before the purge point.
        let last_log_id = self.last_entry_log_id()?.max(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.blocking(move |db| write_meta(db, KEY_VOTE, &vote, Durability::Immediate))
            .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write_meta(KEY_COMMITTED, &committed, Durability::None)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            let bytes =
                encode(&entry).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            encoded.push((entry.log_id.index, bytes));
        }
        let purged = self.purge_point();
        let result = self
            .blocking(move |db| {
                let write = |e: redb::Error| io_err(ErrorSubject::Logs, ErrorVerb::Write, e);
                let txn = db.begin_write().map_err(|e| write(e.into()))?;
                let mut left_to_delete = false;
                {
                    let mut table = txn.open_table(LOGS).map_err(|e| write(e.into()))?;
                    // A few of the purged entries still on disk go with this append.
                    if let Some(through) = purged {
                        left_to_delete =
                            delete_purged(&mut table, through).map_err(|e| write(e.into()))?;
                    }
                    for (index, bytes) in &encoded {
                        table
                            .insert(*index, bytes.as_slice())
                            .map_err(|e| write(e.into()))?;
                    }
                }
                txn.commit().map_err(|e| write(e.into()))?;
                Ok(left_to_delete)
            })
            .await;
        if let (Ok(false), Some(through)) = (&result, purged) {
            // Every purged entry is gone (unless a newer purge moved the point meanwhile).
            let mut point = self
                .purged_through
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *point == Some(through) {
                *point = None;
            }
        }
        let result = result.map(|_| ());
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(move |db| {
            let write = |e: redb::Error| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e);
            let txn = db.begin_write().map_err(|e| write(e.into()))?;
            {
                let mut table = txn.open_table(LOGS).map_err(|e| write(e.into()))?;
                table
                    .retain_in(log_id.index.., |_, _| false)
                    .map_err(|e| write(e.into()))?;
            }
            txn.commit().map_err(|e| write(e.into()))
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let purged =
            encode(&Some(log_id)).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        let started = std::time::Instant::now();
        // The point only: the entries go a few at a time with the appends that follow.
        self.blocking(move |db| {
            let write = |e: redb::Error| io_err(ErrorSubject::Logs, ErrorVerb::Write, e);
            let txn = db.begin_write().map_err(|e| write(e.into()))?;
            {
                let mut meta = txn.open_table(META).map_err(|e| write(e.into()))?;
                meta.insert(KEY_PURGED, purged.as_slice())
                    .map_err(|e| write(e.into()))?;
            }
            txn.commit().map_err(|e| write(e.into()))
        })
        .await?;
        *self
            .purged_through
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(log_id.index);
        tracing::debug!(
            through = log_id.index,
            ms = started.elapsed().as_millis() as u64,
            "raft log purged"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_id(term: u64, node: NodeId, index: u64) -> LogId {
        LogId::new(openraft::CommittedLeaderId::new(term, node), index)
    }

    /// Entries as `append` writes them, without openraft's flush callback.
    fn put_entries(store: &LogStore, ids: &[LogId]) {
        let txn = store.db.begin_write().expect("write");
        {
            let mut table = txn.open_table(LOGS).expect("table");
            for id in ids {
                let entry = Entry {
                    log_id: *id,
                    payload: openraft::EntryPayload::Blank,
                };
                table
                    .insert(id.index, encode(&entry).expect("encode").as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }

    #[tokio::test]
    async fn a_reopened_log_reports_where_it_was_purged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids: Vec<LogId> = (1..=20).map(|i| log_id(7, 2, i)).collect();
        {
            let mut store = LogStore::open(dir.path(), "c", 1, 1 << 20).expect("open");
            put_entries(&store, &ids);
            store.purge(ids[11]).await.expect("purge");
            let state = store.get_log_state().await.expect("state");
            assert_eq!(state.last_purged_log_id, Some(ids[11]));
            assert_eq!(state.last_log_id, Some(ids[19]));
        }
        let mut store = LogStore::open(dir.path(), "c", 1, 1 << 20).expect("reopen");
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id, Some(ids[11]));
        assert_eq!(state.last_log_id, Some(ids[19]));
        let left = store.try_get_log_entries(0..=20).await.expect("read");
        assert_eq!(left.first().map(|e| e.log_id), Some(ids[12]));
        assert_eq!(left.len(), 8);
    }

    fn indexes_on_disk(store: &LogStore) -> Vec<u64> {
        let txn = store.db.begin_read().expect("read");
        let table = txn.open_table(LOGS).expect("table");
        table
            .iter()
            .expect("iter")
            .map(|item| item.expect("item").0.value())
            .collect()
    }

    #[tokio::test]
    async fn purged_entries_leave_the_disk_a_chunk_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = LogStore::open(dir.path(), "c", 1, 1 << 20).expect("open");
        let ids: Vec<LogId> = (1..=200).map(|i| log_id(3, 1, i)).collect();
        put_entries(&store, &ids);
        store.purge(ids[149]).await.expect("purge"); // through index 150
        // The purge itself deletes nothing, and nothing purged is read.
        assert_eq!(indexes_on_disk(&store).len(), 200);
        let read = store.try_get_log_entries(1..=200).await.expect("read");
        assert_eq!(read.first().map(|e| e.log_id.index), Some(151));
        let mut rounds = 0;
        loop {
            let txn = store.db.begin_write().expect("write");
            let more = {
                let mut table = txn.open_table(LOGS).expect("table");
                delete_purged(&mut table, 150).expect("delete")
            };
            txn.commit().expect("commit");
            rounds += 1;
            let on_disk = indexes_on_disk(&store);
            assert_eq!(
                on_disk.first().copied(),
                Some((1 + rounds * PURGE_CHUNK).min(151))
            );
            assert_eq!(on_disk.last().copied(), Some(200));
            if !more {
                break;
            }
        }
        assert_eq!(rounds, 3); // 64 + 64 + 22
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id, Some(ids[149]));
        assert_eq!(state.last_log_id, Some(ids[199]));
    }

    #[tokio::test]
    async fn a_log_purged_through_its_end_reports_the_purge_point_as_its_last_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = LogStore::open(dir.path(), "c", 1, 1 << 20).expect("open");
        let ids: Vec<LogId> = (1..=5).map(|i| log_id(2, 1, i)).collect();
        put_entries(&store, &ids);
        store.purge(ids[4]).await.expect("purge");
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id, Some(ids[4]));
        assert_eq!(state.last_log_id, Some(ids[4]));
        assert!(
            store
                .try_get_log_entries(0..10)
                .await
                .expect("read")
                .is_empty()
        );
    }
}
