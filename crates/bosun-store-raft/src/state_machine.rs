//! The raft state machine: committed proposals applied to a [`LocalStore`], which serves reads
//! and watches on this member.
//!
//! The state lives in memory and is persisted as snapshots (see [`crate::snapshot`]); on start the
//! newest snapshot is loaded and openraft re-applies the log after it, up to the saved committed
//! index. Request ids seen recently are remembered with their answers, so a request retried after
//! a leader change is applied once.

use crate::snapshot::{self, Header, SnapshotError};
use crate::types::{
    Applied, Command, Entry, LogId, ProposalResult, RequestId, RequestResult, Snapshot,
    SnapshotFile, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use bosun_store::{LocalStore, Mvcc};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, StorageIOError};
use std::path::PathBuf;

/// How many request ids (with their answers) the state machine remembers for deduplication.
pub const DEDUP_CAPACITY: usize = 32 * 1024;

/// Recent request ids and their answers, evicted oldest first. Deterministic: every member
/// applies the same entries and so holds the same table. Persistent collections: a snapshot
/// takes a copy in O(1) while the state machine waits (copying 32k answers there stalled
/// every write for 20–35 ms at each snapshot).
#[derive(Debug, Default, Clone)]
struct Dedup {
    answers: imbl::HashMap<RequestId, RequestResult>,
    order: imbl::Vector<RequestId>,
}

impl Dedup {
    fn get(&self, id: &RequestId) -> Option<&RequestResult> {
        self.answers.get(id)
    }
    fn insert(&mut self, id: RequestId, answer: RequestResult) {
        if self.answers.insert(id, answer).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > DEDUP_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.answers.remove(&old);
            }
        }
    }
    fn to_vec(&self) -> Vec<(RequestId, RequestResult)> {
        self.order
            .iter()
            .filter_map(|id| self.answers.get(id).map(|a| (*id, a.clone())))
            .collect()
    }
    fn from_vec(items: Vec<(RequestId, RequestResult)>) -> Self {
        let mut d = Dedup::default();
        for (id, answer) in items {
            d.insert(id, answer);
        }
        d
    }
}

/// The state machine openraft drives.
#[derive(Debug)]
pub struct StateMachine {
    local: LocalStore,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    dedup: Dedup,
    dir: PathBuf,
}

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        openraft::AnyError::new(&e),
    )
    .into()
}

impl StateMachine {
    /// Open the state machine from the newest snapshot in `dir` (created if missing). A snapshot
    /// that fails its checksum is an error naming the file: the member must not start.
    pub fn open(dir: PathBuf, local: LocalStore) -> Result<Self, SnapshotError> {
        std::fs::create_dir_all(&dir).map_err(|source| SnapshotError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut sm = Self {
            local,
            last_applied: None,
            membership: StoredMembership::default(),
            dedup: Dedup::default(),
            dir: dir.clone(),
        };
        snapshot::remove_temporaries(&dir);
        if let Some(path) = snapshot::latest(&dir)? {
            let loaded = snapshot::read(&path)?;
            sm.restore(loaded);
            snapshot::prune(&dir);
        }
        Ok(sm)
    }

    fn restore(&mut self, loaded: snapshot::Loaded) {
        self.last_applied = loaded.header.meta.last_log_id;
        self.membership = loaded.header.meta.last_membership.clone();
        self.dedup = Dedup::from_vec(loaded.header.dedup);
        self.local.replace(loaded.state);
    }

    fn apply_command(&mut self, id: RequestId, command: &Command) -> RequestResult {
        if let Some(answer) = self.dedup.get(&id) {
            return answer.clone();
        }
        let answer = match command {
            Command::Txn(txn) => self.local.apply(txn).map(Applied::Txn),
            Command::Compact(rev) => self.local.compact(*rev).map(|()| Applied::Compacted),
        };
        self.dedup.insert(id, answer.clone());
        answer
    }
}

/// Builds a snapshot from a copy of the state taken when openraft asked for the builder.
#[derive(Debug)]
pub struct SnapshotBuilder {
    state: Mvcc,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    dedup: Dedup,
    dir: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let snapshot_id = format!(
            "{}-{}-{:08x}",
            self.last_applied.map_or(0, |l| l.leader_id.term),
            self.last_applied.map_or(0, |l| l.index),
            rand::random::<u32>()
        );
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let (header_meta, dedup) = (meta.clone(), std::mem::take(&mut self.dedup));
        let state = std::mem::take(&mut self.state);
        let dir = self.dir.clone();
        // On a thread of its own at the lowest CPU priority: serializing the whole state
        // (hundreds of MB at 100,000 objects) on every member at once would otherwise take the
        // cores from the requests being served, and the writes' latency with them.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("raft-snapshot".into())
            .spawn(move || {
                lower_this_threads_priority();
                // Counted and copied here, not on the runtime's threads: a walk over every key
                // and every remembered answer.
                let header = Header {
                    meta: header_meta,
                    revision: state.revision(),
                    compact_revision: state.compact_revision(),
                    keys: state.entries().count() as u64,
                    dedup: dedup.to_vec(),
                };
                let written = snapshot::write(&dir, &header, &state).inspect(|_| {
                    let started = std::time::Instant::now();
                    snapshot::prune(&dir);
                    tracing::info!(
                        prune_ms = started.elapsed().as_millis() as u64,
                        "older snapshots removed"
                    );
                });
                // Its share of the state (the nodes the live state has replaced since) is
                // freed here too, on this thread.
                let started = std::time::Instant::now();
                drop(state);
                tracing::info!(
                    drop_ms = started.elapsed().as_millis() as u64,
                    "snapshot state released"
                );
                let _ = tx.send(written);
            })
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        let path = rx
            .await
            .map_err(|e| sm_err(ErrorVerb::Write, e))?
            .map_err(|e| {
                StorageIOError::write_snapshot(Some(meta.signature()), openraft::AnyError::new(&e))
            })?;
        tracing::info!(path = %path.display(), "snapshot written");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(SnapshotFile { path }),
        })
    }
}

/// Make the calling thread the last to get a core: SCHED_IDLE, so that it runs only on a core
/// nothing else wants and any other thread waking up takes the core from it at once (with
/// nice 19 alone the members' request threads still waited behind the snapshot encoders for a
/// time slice at each wake-up). Falls back to nice 19. Best effort.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    // SAFETY: sched_setscheduler(2) reads the `sched_param` it is given, which lives on this
    // stack for the whole call; pid 0 is the calling thread (Linux schedules threads one by
    // one). nice(2) takes an integer and no pointer and, on Linux, sets the calling thread's
    // nice value only. A failure (-1 with errno) leaves the priority as it was, which is
    // harmless, so the results are only used to pick the fallback.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            libc::nice(19);
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ProposalResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let result = match &entry.payload {
                EntryPayload::Blank => ProposalResult::default(),
                EntryPayload::Normal(proposal) => ProposalResult {
                    results: proposal
                        .requests
                        .iter()
                        .map(|(id, cmd)| self.apply_command(*id, cmd))
                        .collect(),
                },
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    ProposalResult::default()
                }
            };
            out.push(result);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let started = std::time::Instant::now();
        let state = self.local.state();
        let dedup = self.dedup.clone();
        tracing::info!(
            copy_us = started.elapsed().as_micros() as u64,
            keys = state.key_count(),
            "snapshot started"
        );
        SnapshotBuilder {
            state,
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            dedup,
            dir: self.dir.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotFile>, StorageError> {
        Ok(Box::new(SnapshotFile {
            path: self
                .dir
                .join(format!("recv-{:016x}.tmp", rand::random::<u64>())),
        }))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<SnapshotFile>,
    ) -> Result<(), StorageError> {
        let path = snapshot.path.clone();
        let dir = self.dir.clone();
        let canonical = dir.join(snapshot::file_name(meta));
        let loaded = tokio::task::spawn_blocking(move || {
            let loaded = snapshot::read(&path)?;
            std::fs::rename(&path, &canonical).map_err(|source| SnapshotError::Io {
                path: path.clone(),
                source,
            })?;
            snapshot::prune(&dir);
            Ok::<_, SnapshotError>(loaded)
        })
        .await
        .map_err(|e| sm_err(ErrorVerb::Read, e))?
        .map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), openraft::AnyError::new(&e))
        })?;
        tracing::info!(snapshot = %meta.snapshot_id, revision = loaded.header.revision, "snapshot installed");
        self.restore(loaded);
        // The meta openraft gives is authoritative for the log position.
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let read = |e: SnapshotError| sm_err(ErrorVerb::Read, e);
        let Some(path) = snapshot::latest(&self.dir).map_err(read)? else {
            return Ok(None);
        };
        let header = snapshot::read_header(&path).map_err(read)?;
        Ok(Some(Snapshot {
            meta: header.meta,
            snapshot: Box::new(SnapshotFile { path }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Proposal;
    use bosun_store::{Op, RangeRequest, Txn};
    use openraft::{CommittedLeaderId, EntryPayload};

    fn put(index: u64, key: &str) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Proposal {
                requests: vec![(
                    RequestId::random(),
                    Command::Txn(Txn::new().and_then([Op::put(key.to_string(), "v")])),
                )],
            }),
        }
    }

    async fn keys(sm: &StateMachine) -> Vec<String> {
        sm.local
            .range(&RangeRequest::prefix("/k/".to_string()))
            .expect("range")
            .kvs
            .iter()
            .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
            .collect()
    }

    /// openraft builds a snapshot on one task and installs a received one on another; a build
    /// from an older state that finishes after a newer snapshot was installed must not replace
    /// it, or a restart loads the older state while the log after it is already purged.
    #[tokio::test]
    async fn an_older_snapshot_finishing_late_never_replaces_an_installed_newer_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sm =
            StateMachine::open(dir.path().join("a"), LocalStore::new(Mvcc::new())).expect("open");
        sm.apply([put(1, "/k/1"), put(2, "/k/2")])
            .await
            .expect("apply");
        let mut late_builder = sm.get_snapshot_builder().await;

        // A leader's snapshot at index 4, made by another state machine.
        let mut leader =
            StateMachine::open(dir.path().join("b"), LocalStore::new(Mvcc::new())).expect("open");
        leader
            .apply([
                put(1, "/k/1"),
                put(2, "/k/2"),
                put(3, "/k/3"),
                put(4, "/k/4"),
            ])
            .await
            .expect("apply");
        let newer = leader
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        let received = sm.begin_receiving_snapshot().await.expect("begin");
        std::fs::copy(&newer.snapshot.path, &received.path).expect("copy");
        sm.install_snapshot(&newer.meta, received)
            .await
            .expect("install");

        late_builder.build_snapshot().await.expect("late build");
        let current = sm
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("a snapshot");
        assert_eq!(current.meta.last_log_id, newer.meta.last_log_id);
        drop(sm);

        let reopened =
            StateMachine::open(dir.path().join("a"), LocalStore::new(Mvcc::new())).expect("reopen");
        assert_eq!(reopened.last_applied, newer.meta.last_log_id);
        assert_eq!(keys(&reopened).await, ["/k/1", "/k/2", "/k/3", "/k/4"]);
    }

    /// A temporary file another task is writing (a snapshot being received) survives a build.
    #[tokio::test]
    async fn a_build_leaves_a_snapshot_being_received_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sm = StateMachine::open(dir.path().to_path_buf(), LocalStore::new(Mvcc::new()))
            .expect("open");
        sm.apply([put(1, "/k/1")]).await.expect("apply");
        let receiving = sm.begin_receiving_snapshot().await.expect("begin");
        std::fs::write(&receiving.path, b"partial").expect("write");
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        assert!(
            receiving.path.exists(),
            "the file being received was removed"
        );
    }
}
