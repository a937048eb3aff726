//! Member-to-member transport: openraft's RPCs as HTTP POSTs with postcard bodies, on the
//! member's raft port. Snapshots stream as one request: a length-prefixed header (the leader's
//! vote and the snapshot meta) followed by the file's bytes.
//!
//! Every request carries the cluster id in [`CLUSTER_HEADER`]; a member answers 403 to another
//! cluster's traffic.

use crate::types::{NodeId, Snapshot, TypeConfig, Vote};
use futures::StreamExt;
use openraft::BasicNode;
use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed,
    StreamingError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use serde::{Serialize, de::DeserializeOwned};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The header that names the cluster a request belongs to.
pub const CLUSTER_HEADER: &str = "x-bosun-cluster";
/// The content type of postcard bodies.
pub const POSTCARD: &str = "application/x-postcard";

/// An error of the transport itself (the peer was not reached or answered garbage).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("peer {url} unreachable: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("peer {url}: {reason}")]
    Protocol { url: String, reason: String },
}

/// A plain HTTP client tuned for member traffic. With `source`, connections leave from that
/// address (a member's own listen address), so traffic between two members is identifiable.
pub fn http_client(source: Option<std::net::IpAddr>) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source)
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default()
}

/// POST a postcard body and decode a postcard answer.
pub async fn post<Req: Serialize, Resp: DeserializeOwned>(
    http: &reqwest::Client,
    cluster: &str,
    url: &str,
    body: &Req,
    timeout: Duration,
) -> Result<Resp, TransportError> {
    let protocol = |reason: String| TransportError::Protocol {
        url: url.to_string(),
        reason,
    };
    let bytes = postcard::to_stdvec(body).map_err(|e| protocol(format!("encode: {e}")))?;
    let resp = http
        .post(url)
        .header(CLUSTER_HEADER, cluster)
        .header(reqwest::header::CONTENT_TYPE, POSTCARD)
        .timeout(timeout)
        .body(bytes)
        .send()
        .await
        .map_err(|source| TransportError::Unreachable {
            url: url.to_string(),
            source,
        })?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|source| TransportError::Unreachable {
            url: url.to_string(),
            source,
        })?;
    if !status.is_success() {
        return Err(protocol(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    postcard::from_bytes(&body).map_err(|e| protocol(format!("decode: {e}")))
}

/// Creates one [`Peer`] per target member.
#[derive(Clone, Debug)]
pub struct Network {
    http: reqwest::Client,
    cluster: Arc<str>,
}

impl Network {
    pub fn new(http: reqwest::Client, cluster: Arc<str>) -> Self {
        Self { http, cluster }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            http: self.http.clone(),
            cluster: self.cluster.clone(),
            target,
            base: format!("http://{}", node.addr),
        }
    }
}

/// The connection to one member.
#[derive(Debug)]
pub struct Peer {
    http: reqwest::Client,
    cluster: Arc<str>,
    target: NodeId,
    base: String,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl Peer {
    async fn call<
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    >(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E> {
        let url = format!("{}{path}", self.base);
        let answer: Result<Resp, RaftError<NodeId, E>> =
            post(&self.http, &self.cluster, &url, req, option.hard_ttl())
                .await
                .map_err(|e| match &e {
                    TransportError::Unreachable { source, .. } if source.is_connect() => {
                        RPCError::Unreachable(Unreachable::new(&e))
                    }
                    _ => RPCError::Network(NetworkError::new(&e)),
                })?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        self.call("/raft/append", &rpc, &option).await
    }

    #[allow(deprecated)]
    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        // With `generic-snapshot-data` openraft sends snapshots through `full_snapshot`.
        Err(RPCError::Network(NetworkError::new(
            &std::io::Error::other("chunked snapshots are not used"),
        )))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        self.call("/raft/vote", &rpc, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let url = format!("{}/raft/snapshot", self.base);
        let network = |e: &dyn std::error::Error| {
            StreamingError::Network(NetworkError::new(&std::io::Error::other(e.to_string())))
        };
        let header = postcard::to_stdvec(&(vote, &snapshot.meta)).map_err(|e| network(&e))?;
        let file = tokio::fs::File::open(&snapshot.snapshot.path)
            .await
            .map_err(|e| network(&e))?;
        let mut prefix = (header.len() as u32).to_le_bytes().to_vec();
        prefix.extend_from_slice(&header);
        let body =
            futures::stream::once(
                async move { Ok::<_, std::io::Error>(bytes::Bytes::from(prefix)) },
            )
            .chain(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
        let send = self
            .http
            .post(&url)
            .header(CLUSTER_HEADER, &*self.cluster)
            .header(reqwest::header::CONTENT_TYPE, POSTCARD)
            .timeout(option.hard_ttl().max(Duration::from_secs(60)))
            .body(reqwest::Body::wrap_stream(body))
            .send();
        let resp = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            resp = send => resp,
        };
        let resp = resp.map_err(|e| {
            if e.is_connect() {
                StreamingError::Unreachable(Unreachable::new(&e))
            } else {
                network(&e)
            }
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| network(&e))?;
        if !status.is_success() {
            return Err(network(&std::io::Error::other(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ))));
        }
        let answer: Result<SnapshotResponse<NodeId>, Fatal<NodeId>> =
            postcard::from_bytes(&body).map_err(|e| network(&e))?;
        answer.map_err(|e| StreamingError::RemoteError(RemoteError::new(self.target, e)))
    }
}
