//! [`EtcdStore`]: the store trait over etcd-client.

use bosun_store::{
    Compare, CompareOp, CompareTarget, Consistency, Error, Event, EventKind, KeyValue, Op,
    OpResult, RangeRequest, RangeResponse, Result, Revision, Store, Txn, TxnResponse, WatchRequest,
    WatchStream, prefix_end, validate_txn,
};
use bytes::Bytes;
use etcd_client as etcd;
use futures::StreamExt;

/// A client of an etcd cluster. Cheap to clone.
#[derive(Clone)]
pub struct EtcdStore {
    client: etcd::Client,
    endpoints: Vec<String>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

impl EtcdStore {
    /// Connect to the cluster at `endpoints` (`http://host:port`).
    pub async fn connect(endpoints: &[String]) -> Result<Self> {
        let options = etcd::ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_require_leader(true);
        let client = etcd::Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| map_err(e, 0))?;
        Ok(Self {
            client,
            endpoints: endpoints.to_vec(),
        })
    }

    /// etcd does not say where it compacted in its error; a watch from revision 1 does.
    async fn compaction_point(&self) -> Revision {
        let mut client = self.client.clone();
        let opts = etcd::WatchOptions::new().with_start_revision(1);
        let Ok(mut stream) = client.watch("\0", Some(opts)).await else {
            return 0;
        };
        let wait = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(Ok(resp)) = stream.next().await {
                if resp.compact_revision() > 0 {
                    return resp.compact_revision();
                }
                if resp.canceled() || !resp.events().is_empty() {
                    return 0;
                }
            }
            0
        });
        wait.await.unwrap_or(0)
    }

    async fn fill_compacted(&self, e: Error) -> Error {
        match e {
            Error::Compacted {
                requested,
                compact_revision: 0,
            } => Error::Compacted {
                requested,
                compact_revision: self.compaction_point().await,
            },
            other => other,
        }
    }
}

/// Map an etcd-client error; `requested` is the revision the call named (for revision errors).
fn map_err(e: etcd::Error, requested: Revision) -> Error {
    match e {
        etcd::Error::GRpcStatus(status) => {
            let msg = status.message();
            if msg.contains("required revision has been compacted") {
                Error::Compacted {
                    requested,
                    compact_revision: 0,
                }
            } else if msg.contains("future revision") {
                Error::FutureRevision {
                    requested,
                    current: 0,
                }
            } else if msg.contains("request timed out")
                || status.code() == tonic_code::DEADLINE_EXCEEDED
            {
                Error::Timeout(msg.to_string())
            } else if msg.contains("request is too large")
                || msg.contains("message larger than max")
                || status.code() == tonic_code::INVALID_ARGUMENT
            {
                Error::InvalidArgument(msg.to_string())
            } else {
                Error::Unavailable(format!("etcd: {msg}"))
            }
        }
        other => Error::Unavailable(format!("etcd: {other}")),
    }
}

/// gRPC status codes as etcd-client exposes them (through tonic).
mod tonic_code {
    pub const DEADLINE_EXCEEDED: tonic::Code = tonic::Code::DeadlineExceeded;
    pub const INVALID_ARGUMENT: tonic::Code = tonic::Code::InvalidArgument;
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

fn header_revision(h: Option<&etcd::ResponseHeader>) -> Revision {
    h.map_or(0, |h| h.revision())
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        validate_txn(&txn)?;
        let request = etcd::Txn::new()
            .when(txn.compare.iter().map(compare).collect::<Vec<_>>())
            .and_then(txn.success.iter().map(op).collect::<Vec<_>>())
            .or_else(txn.failure.iter().map(op).collect::<Vec<_>>());
        let resp = self
            .client
            .kv_client()
            .txn(request)
            .await
            .map_err(|e| map_err(e, 0))?;
        let results = resp
            .op_responses()
            .into_iter()
            .map(|r| match r {
                etcd::TxnOpResponse::Put(p) => OpResult::Put {
                    prev: p.prev_key().map(kv),
                },
                etcd::TxnOpResponse::Delete(d) => OpResult::Delete {
                    prev: d.prev_kvs().first().map(kv),
                },
                etcd::TxnOpResponse::Get(g) => OpResult::Get {
                    kv: g.kvs().first().map(kv),
                },
                etcd::TxnOpResponse::Txn(_) => OpResult::Get { kv: None },
            })
            .collect();
        Ok(TxnResponse {
            succeeded: resp.succeeded(),
            revision: header_revision(resp.header()),
            results,
        })
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let start = match &req.start {
            Some(s) if s.as_ref() > req.prefix.as_ref() => s.to_vec(),
            _ if req.prefix.is_empty() => vec![0],
            _ => req.prefix.to_vec(),
        };
        let mut options = etcd::GetOptions::new();
        options = match prefix_end(&req.prefix) {
            Some(end) => options.with_range(end),
            None => options.with_from_key(),
        };
        if req.limit > 0 {
            options = options.with_limit(req.limit as i64);
        }
        if req.revision > 0 {
            options = options.with_revision(req.revision);
        }
        if req.consistency == Consistency::Serializable {
            options = options.with_serializable();
        }
        let resp = match self.client.kv_client().get(start, Some(options)).await {
            Ok(r) => r,
            Err(e) => {
                let e = map_err(e, req.revision);
                return Err(match e {
                    Error::FutureRevision { requested, .. } => Error::FutureRevision {
                        requested,
                        current: self.current_revision().await.unwrap_or(0),
                    },
                    other => self.fill_compacted(other).await,
                });
            }
        };
        Ok(RangeResponse {
            kvs: resp.kvs().iter().map(kv).collect(),
            more: resp.more(),
            count: usize::try_from(resp.count()).unwrap_or(0),
            revision: header_revision(resp.header()),
        })
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        // "From now" is made exact by naming the revision after the current one.
        let start = if req.start_revision > 0 {
            req.start_revision
        } else {
            self.current_revision().await? + 1
        };
        let mut options = etcd::WatchOptions::new()
            .with_start_revision(start)
            .with_prev_key();
        options = match prefix_end(&req.prefix) {
            Some(end) => options.with_range(end),
            None => options.with_from_key(),
        };
        let key = if req.prefix.is_empty() {
            vec![0]
        } else {
            req.prefix.to_vec()
        };
        let mut client = self.client.clone();
        let stream = client
            .watch(key, Some(options))
            .await
            .map_err(|e| map_err(e, start))?;
        let events = futures::stream::unfold(Some(stream), move |state| async move {
            let mut stream = state?;
            loop {
                match stream.next().await {
                    None => {
                        return Some((
                            vec![Err(Error::Unavailable("etcd watch stream ended".into()))],
                            None,
                        ));
                    }
                    Some(Err(e)) => return Some((vec![Err(map_err(e, start))], None)),
                    Some(Ok(resp)) => {
                        if resp.compact_revision() > 0 {
                            let err = Error::Compacted {
                                requested: start,
                                compact_revision: resp.compact_revision(),
                            };
                            return Some((vec![Err(err)], None));
                        }
                        if resp.canceled() {
                            let err = Error::Unavailable(format!(
                                "etcd cancelled the watch: {}",
                                resp.cancel_reason()
                            ));
                            return Some((vec![Err(err)], None));
                        }
                        if resp.events().is_empty() {
                            continue;
                        }
                        let batch = resp
                            .events()
                            .iter()
                            .filter_map(|e| {
                                let current = e.kv()?;
                                let prev = e.prev_kv().map(kv);
                                Some(Ok(match e.event_type() {
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
                                }))
                            })
                            .collect();
                        return Some((batch, Some(stream)));
                    }
                }
            }
        });
        Ok(Box::pin(events.flat_map(futures::stream::iter)))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let options = etcd::CompactionOptions::new().with_physical();
        match self
            .client
            .kv_client()
            .compact(revision, Some(options))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = map_err(e, revision);
                Err(match e {
                    Error::FutureRevision { requested, .. } => Error::FutureRevision {
                        requested,
                        current: self.current_revision().await.unwrap_or(0),
                    },
                    other => self.fill_compacted(other).await,
                })
            }
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        let resp = self
            .client
            .kv_client()
            .get(vec![0], Some(etcd::GetOptions::new().with_count_only()))
            .await
            .map_err(|e| map_err(e, 0))?;
        Ok(header_revision(resp.header()))
    }
}
