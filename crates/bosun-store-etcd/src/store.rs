//! [`EtcdStore`]: the [`Store`] trait over etcd-client, one etcd v3 call per trait method.
//!
//! - `txn` is an etcd `Txn` (puts and deletes ask for the previous key-value);
//! - `range` is a `Range` from the prefix (or the page's start key) to [`prefix_end`];
//! - `watch` is one etcd watch with `prev_kv`, turned into a [`WatchStream`];
//! - `compact` is a physical `Compact`;
//! - `current_revision` is the header revision of a linearizable one-key count.
//!
//! Every unary call has a deadline ([`REQUEST_TIMEOUT`]), so a cluster that does not answer gives
//! [`Error::Timeout`] instead of a hung caller. Errors are mapped by [`crate::status`].

use crate::status::map_err;
use bosun_store::{
    Compare, CompareOp, CompareTarget, Consistency, Error, Event, EventKind, KeyValue, Op,
    OpResult, RangeRequest, RangeResponse, Result, Revision, Store, Txn, TxnResponse, WatchRequest,
    WatchStream, prefix_end, validate_txn,
};
use bytes::Bytes;
use etcd_client as etcd;
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The deadline of every unary call (and of a watch's creation).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The deadline of a compaction, which etcd answers once the old revisions are gone from disk.
pub const COMPACT_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest answer the client accepts: etcd's own Go client default (`math.MaxInt32`), so a
/// large list is not refused by the client after etcd has served it.
const MAX_MESSAGE_BYTES: usize = i32::MAX as usize;

/// A client of an etcd cluster. Cheap to clone; every clone shares one connection pool.
///
/// When the last clone is dropped, every [`WatchStream`] it opened ends with
/// [`Error::Unavailable`].
#[derive(Clone)]
pub struct EtcdStore {
    /// Kept for its endpoint pool: the kv and watch clients below share its channel.
    _client: etcd::Client,
    kv: etcd::KvClient,
    watch: etcd::WatchClient,
    endpoints: Arc<[String]>,
    /// Cancelled when the last clone drops `_closer`; watch streams listen to it.
    closed: CancellationToken,
    _closer: Arc<DropGuard>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connect to the cluster at `endpoints` (`http://host:port`, one or more members).
    ///
    /// Connections are made lazily: this fails only on malformed endpoints, and a cluster that
    /// is down shows up as [`Error::Unavailable`] or [`Error::Timeout`] on the first call.
    /// Requests carry etcd's `require leader` flag, so a member without a leader refuses them
    /// (retryably) instead of serving stale data or hanging.
    pub async fn connect(endpoints: &[String]) -> Result<Self> {
        let options = etcd::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            // Pings find a dead connection under an open watch. etcd refuses pings more often
            // than every 5 s and pings without an open stream (GOAWAY "too_many_pings").
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(false)
            .with_require_leader(true);
        let client = etcd::Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| map_err(e, 0))?;
        let kv = client
            .kv_client()
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let watch = client
            .watch_client()
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let closed = CancellationToken::new();
        Ok(Self {
            _client: client,
            kv,
            watch,
            endpoints: endpoints.into(),
            _closer: Arc::new(closed.clone().drop_guard()),
            closed,
        })
    }

    /// The endpoints this store was connected to.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Where etcd compacted. Its "compacted" error does not say; a watch from revision 1 does
    /// (etcd cancels it with the compaction revision). 0 when it cannot be learnt.
    async fn compaction_point(&self) -> Revision {
        let mut client = self.watch.clone();
        // One key, so that even an uncompacted history would not be streamed in full.
        let options = etcd::WatchOptions::new().with_start_revision(1);
        let find = async {
            let mut stream = client.watch(vec![0], Some(options)).await.ok()?;
            while let Ok(Some(resp)) = stream.message().await {
                if resp.compact_revision() > 0 {
                    return Some(resp.compact_revision());
                }
                if resp.canceled() || !resp.events().is_empty() {
                    return None;
                }
            }
            None
        };
        tokio::time::timeout(REQUEST_TIMEOUT, find)
            .await
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Fill in what etcd's revision errors leave out: the compaction point, the current revision.
    async fn complete(&self, e: Error) -> Error {
        match e {
            Error::Compacted {
                requested,
                compact_revision: 0,
            } => Error::Compacted {
                requested,
                compact_revision: self.compaction_point().await,
            },
            Error::FutureRevision {
                requested,
                current: 0,
            } => Error::FutureRevision {
                requested,
                current: self.current_revision().await.unwrap_or(0),
            },
            other => other,
        }
    }
}

/// Await an etcd call within `timeout`, mapping its error (`requested`: the revision it named).
async fn deadline<T>(
    what: &str,
    timeout: Duration,
    requested: Revision,
    call: impl Future<Output = Result<T, etcd::Error>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(map_err(e, requested)),
        Err(_) => Err(Error::Timeout(format!(
            "etcd {what}: no answer within {timeout:?}"
        ))),
    }
}

/// The etcd key range of a prefix: `(key, range_end)`. An empty prefix is every key, which etcd
/// spells `["\0", "\0")`; a prefix of only 0xff bytes runs to the end of the key space
/// (`range_end` `"\0"` means "every key from `key` on").
pub(crate) fn key_range(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let key = if prefix.is_empty() {
        vec![0]
    } else {
        prefix.to_vec()
    };
    (key, prefix_end(prefix).unwrap_or_else(|| vec![0]))
}

fn kv(kv: &etcd::KeyValue) -> KeyValue {
    KeyValue {
        key: Bytes::copy_from_slice(kv.key()),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
    }
}

fn compare(c: &Compare) -> etcd::Compare {
    let op = match c.op {
        CompareOp::Equal => etcd::CompareOp::Equal,
        CompareOp::NotEqual => etcd::CompareOp::NotEqual,
        CompareOp::Greater => etcd::CompareOp::Greater,
        CompareOp::Less => etcd::CompareOp::Less,
    };
    let key = c.key.to_vec();
    match &c.target {
        CompareTarget::ModRevision(r) => etcd::Compare::mod_revision(key, op, *r),
        CompareTarget::CreateRevision(r) => etcd::Compare::create_revision(key, op, *r),
        CompareTarget::Version(v) => etcd::Compare::version(key, op, *v),
        CompareTarget::Value(v) => etcd::Compare::value(key, op, v.to_vec()),
    }
}

fn op(o: &Op) -> etcd::TxnOp {
    match o {
        Op::Put { key, value } => etcd::TxnOp::put(
            key.to_vec(),
            value.to_vec(),
            Some(etcd::PutOptions::new().with_prev_key()),
        ),
        Op::Delete { key } => etcd::TxnOp::delete(
            key.to_vec(),
            Some(etcd::DeleteOptions::new().with_prev_key()),
        ),
        Op::Get { key } => etcd::TxnOp::get(key.to_vec(), None),
    }
}

fn op_result(requested: &Op, answer: &etcd::TxnOpResponse) -> Result<OpResult> {
    match (requested, answer) {
        (Op::Put { .. }, etcd::TxnOpResponse::Put(p)) => Ok(OpResult::Put {
            prev: p.prev_key().map(kv),
        }),
        (Op::Delete { .. }, etcd::TxnOpResponse::Delete(d)) => Ok(OpResult::Delete {
            prev: d.prev_kvs().first().map(kv),
        }),
        (Op::Get { .. }, etcd::TxnOpResponse::Get(g)) => Ok(OpResult::Get {
            kv: g.kvs().first().map(kv),
        }),
        (op, _) => Err(malformed(format!(
            "the answer to {op:?} in a transaction is of another kind"
        ))),
    }
}

/// etcd answered something the protocol does not allow: not a condition that clears by retrying.
fn malformed(what: String) -> Error {
    Error::Fatal(format!("malformed answer from etcd: {what}"))
}

fn header_revision(h: Option<&etcd::ResponseHeader>) -> Result<Revision> {
    h.map(|h| h.revision())
        .ok_or_else(|| malformed("an answer without a header".into()))
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        validate_txn(&txn)?;
        let request = etcd::Txn::new()
            .when(txn.compare.iter().map(compare).collect::<Vec<_>>())
            .and_then(txn.success.iter().map(op).collect::<Vec<_>>())
            .or_else(txn.failure.iter().map(op).collect::<Vec<_>>());
        let mut client = self.kv.clone();
        let resp = deadline("txn", REQUEST_TIMEOUT, 0, client.txn(request)).await?;
        let branch = if resp.succeeded() {
            &txn.success
        } else {
            &txn.failure
        };
        let answers = resp.op_responses();
        if answers.len() != branch.len() {
            return Err(malformed(format!(
                "{} results for a branch of {} operations",
                answers.len(),
                branch.len()
            )));
        }
        let results = branch
            .iter()
            .zip(&answers)
            .map(|(op, answer)| op_result(op, answer))
            .collect::<Result<_>>()?;
        Ok(TxnResponse {
            succeeded: resp.succeeded(),
            revision: header_revision(resp.header())?,
            results,
        })
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let (key, end) = key_range(&req.prefix);
        let start = match &req.start {
            Some(s) if s.as_ref() > key.as_slice() => s.to_vec(),
            _ => key,
        };
        let mut options = etcd::GetOptions::new().with_range(end);
        if req.limit > 0 {
            options = options.with_limit(i64::try_from(req.limit).unwrap_or(i64::MAX));
        }
        if req.revision > 0 {
            options = options.with_revision(req.revision);
        }
        if req.consistency == Consistency::Serializable {
            options = options.with_serializable();
        }
        let mut client = self.kv.clone();
        let call = client.get(start, Some(options));
        let resp = match deadline("range", REQUEST_TIMEOUT, req.revision, call).await {
            Ok(resp) => resp,
            Err(e) => return Err(self.complete(e).await),
        };
        Ok(RangeResponse {
            kvs: resp.kvs().iter().map(kv).collect(),
            more: resp.more(),
            count: usize::try_from(resp.count())
                .map_err(|_| malformed(format!("a negative count {}", resp.count())))?,
            revision: header_revision(resp.header())?,
        })
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        let (key, end) = key_range(&req.prefix);
        let mut options = etcd::WatchOptions::new().with_range(end).with_prev_key();
        // Without a start revision etcd starts after its revision when it creates the watch;
        // `watch` returns only after that (below), so every later change is seen.
        if req.start_revision > 0 {
            options = options.with_start_revision(req.start_revision);
        }
        let requested = req.start_revision;
        let mut client = self.watch.clone();
        let create = async move {
            let mut stream = client.watch(key, Some(options)).await?;
            // The first answer is etcd's "created" (or "canceled" when etcd refuses the watch).
            let first = stream.message().await?;
            Ok::<_, etcd::Error>((stream, first))
        };
        let (stream, first) = deadline("watch", REQUEST_TIMEOUT, requested, create).await?;
        let first = match first {
            Some(resp) => decode(&resp, requested)?,
            None => {
                return Err(Error::Unavailable(
                    "etcd closed the watch stream before creating the watch".into(),
                ));
            }
        };
        let watcher = Watcher {
            stream,
            requested,
            closed: self.closed.clone(),
        };
        let rest = futures::stream::unfold(Some(watcher), |state| async move {
            let mut watcher = state?;
            Some(match watcher.next_batch().await {
                Ok(events) => (
                    events.into_iter().map(Ok).collect::<Vec<_>>(),
                    Some(watcher),
                ),
                Err(e) => {
                    tracing::debug!(error = %e, "etcd watch ended");
                    (vec![Err(e)], None)
                }
            })
        })
        .flat_map(futures::stream::iter);
        Ok(Box::pin(
            futures::stream::iter(first.into_iter().map(Ok)).chain(rest),
        ))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let options = etcd::CompactionOptions::new().with_physical();
        let mut client = self.kv.clone();
        let call = client.compact(revision, Some(options));
        match deadline("compact", COMPACT_TIMEOUT, revision, call).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.complete(e).await),
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        // A linearizable count of the single key "\0": etcd confirms its leadership (read
        // index) and answers with its revision, without reading any value.
        let mut client = self.kv.clone();
        let call = client.get(vec![0], Some(etcd::GetOptions::new().with_count_only()));
        let resp = deadline("current revision", REQUEST_TIMEOUT, 0, call).await?;
        header_revision(resp.header())
    }
}

/// One open etcd watch, read by the [`WatchStream`] that [`EtcdStore::watch`] returns.
struct Watcher {
    stream: etcd::WatchStream,
    requested: Revision,
    closed: CancellationToken,
}

impl Watcher {
    /// The events of the next etcd answer that carries any, or why the watch cannot go on.
    async fn next_batch(&mut self) -> Result<Vec<Event>> {
        loop {
            let message = tokio::select! {
                biased;
                () = self.closed.cancelled() => {
                    return Err(Error::Unavailable("the EtcdStore was dropped".into()));
                }
                message = self.stream.message() => message,
            };
            let resp = match message {
                Ok(Some(resp)) => resp,
                Ok(None) => return Err(Error::Unavailable("etcd closed the watch stream".into())),
                Err(e) => return Err(map_err(e, self.requested)),
            };
            let events = decode(&resp, self.requested)?;
            if !events.is_empty() {
                return Ok(events);
            }
        }
    }
}

/// Turn one etcd watch answer into events, or into the error that ends the watch.
fn decode(resp: &etcd::WatchResponse, requested: Revision) -> Result<Vec<Event>> {
    if resp.compact_revision() > 0 {
        return Err(Error::Compacted {
            requested,
            compact_revision: resp.compact_revision(),
        });
    }
    if resp.canceled() {
        return Err(Error::Unavailable(format!(
            "etcd cancelled the watch: {}",
            resp.cancel_reason()
        )));
    }
    resp.events()
        .iter()
        .map(|e| {
            let current = e
                .kv()
                .ok_or_else(|| malformed("a watch event without a key-value".into()))?;
            let prev = e.prev_kv().map(kv);
            Ok(match e.event_type() {
                etcd::EventType::Put => Event {
                    kind: EventKind::Put,
                    kv: kv(current),
                    prev,
                },
                etcd::EventType::Delete => Event {
                    kind: EventKind::Delete,
                    kv: KeyValue {
                        key: Bytes::copy_from_slice(current.key()),
                        value: Bytes::new(),
                        create_revision: 0,
                        mod_revision: current.mod_revision(),
                        version: 0,
                    },
                    prev,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_the_range_up_to_its_end() {
        assert_eq!(key_range(b"/a/"), (b"/a/".to_vec(), b"/a0".to_vec()));
    }

    #[test]
    fn an_empty_prefix_is_every_key() {
        assert_eq!(key_range(b""), (vec![0], vec![0]));
    }

    #[test]
    fn an_all_ff_prefix_runs_to_the_end_of_the_key_space() {
        assert_eq!(key_range(b"\xff\xff"), (b"\xff\xff".to_vec(), vec![0]));
    }
}
