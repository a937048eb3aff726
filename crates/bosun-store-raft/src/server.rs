//! The member port: openraft's RPCs, requests forwarded by other members, a small client API and
//! `/status`. Bodies are postcard (see [`crate::network`]); `/status` is JSON.

use crate::member::{AdminRequest, RaftStore, Route};
use crate::network::{CLUSTER_HEADER, POSTCARD};
use crate::types::{
    Command, NodeId, RequestId, Snapshot, SnapshotFile, SnapshotMeta, TypeConfig, Vote,
};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bosun_store::{RangeRequest, Store, Txn};
use futures::StreamExt;
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// Serve the member port until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: RaftStore,
    shutdown: CancellationToken,
) {
    let app = router(store);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "member port stopped");
    }
}

/// The member port's routes.
pub fn router(store: RaftStore) -> Router {
    let cluster_only = Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route(
            "/raft/snapshot",
            post(snapshot).layer(DefaultBodyLimit::disable()),
        )
        .route("/kv/propose", post(propose))
        .route("/kv/read-index", post(read_index))
        .route("/kv/txn", post(txn))
        .route("/kv/range", post(range))
        .route("/admin/membership", post(admin))
        .route("/admin/membership-local", post(admin_local))
        .layer(middleware::from_fn_with_state(store.clone(), check_cluster))
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024));
    Router::new()
        .route("/status", get(status))
        .merge(cluster_only)
        .with_state(store)
}

async fn check_cluster(State(store): State<RaftStore>, req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(CLUSTER_HEADER)
        .and_then(|v| v.to_str().ok())
        == Some(store.cluster());
    if !ok {
        return (
            StatusCode::FORBIDDEN,
            format!("this member belongs to cluster {:?}", store.cluster()),
        )
            .into_response();
    }
    next.run(req).await
}

fn reply<T: Serialize>(value: &T) -> Response {
    match postcard::to_stdvec(value) {
        Ok(bytes) => ([(header::CONTENT_TYPE, POSTCARD)], bytes).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encode: {e}")).into_response(),
    }
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, (StatusCode, String)> {
    postcard::from_bytes(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("undecodable body: {e}")))
}

async fn append(State(store): State<RaftStore>, body: Bytes) -> Response {
    let req: AppendEntriesRequest<TypeConfig> = match decode(&body) {
        Ok(r) => r,
        Err(resp) => return resp.into_response(),
    };
    reply(&store.raft().append_entries(req).await)
}

async fn vote(State(store): State<RaftStore>, body: Bytes) -> Response {
    let req: VoteRequest<NodeId> = match decode(&body) {
        Ok(r) => r,
        Err(resp) => return resp.into_response(),
    };
    reply(&store.raft().vote(req).await)
}

/// Receive a streamed snapshot into a file, then hand it to raft.
async fn snapshot(State(store): State<RaftStore>, body: Body) -> Response {
    let bad = |msg: String| (StatusCode::BAD_REQUEST, msg).into_response();
    let dir = store.snapshot_dir();
    let path = dir.join(format!("recv-{:016x}.tmp", rand::random::<u64>()));
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut header: Option<(Vote, SnapshotMeta)> = None;
    let mut file = match tokio::fs::File::create(&path).await {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}: {e}", path.display()),
            )
                .into_response();
        }
    };
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                return bad(format!("snapshot stream broke: {e}"));
            }
        };
        if header.is_some() {
            if let Err(e) = file.write_all(&chunk).await {
                let _ = tokio::fs::remove_file(&path).await;
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{}: {e}", path.display()),
                )
                    .into_response();
            }
            continue;
        }
        buf.extend_from_slice(&chunk);
        if buf.len() >= 4 {
            let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if buf.len() >= 4 + len {
                match postcard::from_bytes(&buf[4..4 + len]) {
                    Ok(h) => header = Some(h),
                    Err(e) => return bad(format!("undecodable snapshot header: {e}")),
                }
                if let Err(e) = file.write_all(&buf[4 + len..]).await {
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("{}: {e}", path.display()),
                    )
                        .into_response();
                }
            }
        }
    }
    let Some((vote, meta)) = header else {
        let _ = tokio::fs::remove_file(&path).await;
        return bad("snapshot without a header".into());
    };
    if let Err(e) = file.sync_all().await {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}: {e}", path.display()),
        )
            .into_response();
    }
    drop(file);
    let snapshot = Snapshot {
        meta,
        snapshot: Box::new(SnapshotFile { path }),
    };
    reply(&store.raft().install_full_snapshot(vote, snapshot).await)
}

/// Requests forwarded by a follower, answered in order. They join this member's batcher, so
/// they share log entries with everything else queued.
async fn propose(State(store): State<RaftStore>, body: Bytes) -> Response {
    let requests: Vec<(RequestId, Command)> = match decode(&body) {
        Ok(r) => r,
        Err(resp) => return resp.into_response(),
    };
    let timeout = std::time::Duration::from_secs(5);
    let answers = futures::future::join_all(
        requests
            .into_iter()
            .map(|(id, command)| store.submit(id, command, Route::LeaderOnly, timeout)),
    )
    .await;
    reply(&answers)
}

async fn read_index(State(store): State<RaftStore>) -> Response {
    let answer = if store.is_leader() {
        store.leader_read_index().await
    } else {
        Err(bosun_store::Error::Unavailable("not the leader".into()))
    };
    reply(&answer)
}

async fn txn(State(store): State<RaftStore>, body: Bytes) -> Response {
    let txn: Txn = match decode(&body) {
        Ok(r) => r,
        Err(resp) => return resp.into_response(),
    };
    reply(&store.txn(txn).await)
}

async fn range(State(store): State<RaftStore>, body: Bytes) -> Response {
    let req: RangeRequest = match decode(&body) {
        Ok(r) => r,
        Err(resp) => return resp.into_response(),
    };
    reply(&store.range(req).await)
}

/// A membership change from a client: carried out on the leader, wherever it is.
async fn admin(State(store): State<RaftStore>, body: Bytes) -> Response {
    let req: AdminRequest = match decode(&body) {
        Ok(r) => r,
        Err(resp) => return resp.into_response(),
    };
    reply(&store.on_leader(req).await)
}

/// A membership change forwarded by another member: only the leader carries it out.
async fn admin_local(State(store): State<RaftStore>, body: Bytes) -> Response {
    let req: AdminRequest = match decode(&body) {
        Ok(r) => r,
        Err(resp) => return resp.into_response(),
    };
    let answer = if store.is_leader() {
        store.admin_local(req).await
    } else {
        Err(bosun_store::Error::Unavailable("not the leader".into()))
    };
    reply(&answer)
}

async fn status(State(store): State<RaftStore>) -> Json<crate::member::MemberStatus> {
    Json(store.status())
}
