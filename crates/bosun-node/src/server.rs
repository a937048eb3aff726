//! The agent's HTTPS endpoint, which the API server proxies `pods/log` and `pods/exec` to. Only clients with a
//! certificate from the cluster CA naming the API server's kubelet-client identity (or a
//! `system:masters` member) are served.

use crate::exec::{self, ExecParams};
use crate::runtime::{
    ContainerInfo, ContainerRuntime, ContainerState, ExecRequest, LogOptions, LogStream,
    RuntimeError,
};
use crate::stats;
use axum::Router;
use axum::body::Body;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

#[derive(Debug, Clone)]
struct AppState {
    runtime: Arc<dyn ContainerRuntime>,
    node_name: String,
    pods: PodNames,
    rates: Arc<stats::Rates>,
}

/// `GET /containerLogs/{namespace}/{pod}/{container}` query.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogQuery {
    /// The pod's uid: the runtime keys containers by it.
    #[serde(rename = "podUID")]
    pub pod_uid: String,
    #[serde(default)]
    pub follow: bool,
    #[serde(default)]
    pub previous: bool,
    pub tail_lines: Option<usize>,
    pub limit_bytes: Option<u64>,
}

fn text(status: StatusCode, message: String) -> Response {
    (status, message).into_response()
}

async fn container_logs(
    State(state): State<AppState>,
    Path((_ns, pod, container)): Path<(String, String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let Ok(all) = state.runtime.list().await else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the container runtime is not answering".into(),
        );
    };
    let mut runs: Vec<ContainerInfo> = all
        .into_iter()
        .filter(|c| c.pod_uid == q.pod_uid && c.name == container)
        .collect();
    runs.sort_by_key(|c| c.attempt);
    let chosen = if q.previous {
        if runs.len() < 2 {
            return text(
                StatusCode::BAD_REQUEST,
                format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"),
            );
        }
        runs.get(runs.len() - 2).cloned()
    } else {
        runs.last().cloned()
    };
    let Some(run) = chosen else {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
            ),
        );
    };
    let follow = q.follow && !q.previous && matches!(run.state, ContainerState::Running { .. });
    let options = LogOptions {
        follow,
        tail_lines: q.tail_lines,
    };
    let stream = match state.runtime.logs(&run.id, options).await {
        Ok(s) => s,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let body = match q.limit_bytes {
        Some(limit) => Body::from_stream(limit_bytes(stream, limit)),
        None => Body::from_stream(stream),
    };
    (StatusCode::OK, [("content-type", "text/plain")], body).into_response()
}

/// At most `limit` bytes of a stream.
fn limit_bytes(stream: LogStream, limit: u64) -> LogStream {
    let stream = futures::stream::unfold((stream, limit), |(mut stream, left)| async move {
        if left == 0 {
            return None;
        }
        match stream.next().await? {
            Ok(mut chunk) => {
                let keep = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
                chunk.truncate(keep);
                Some((Ok(chunk), (stream, left - keep as u64)))
            }
            Err(e) => Some((Err(e), (stream, 0))),
        }
    });
    Box::pin(stream)
}

/// `/exec/{namespace}/{pod}/{container}?podUID=&command=...&stdin=&stdout=&stderr=&tty=`,
/// a WebSocket upgrade.
async fn exec_in_container(
    State(state): State<AppState>,
    Path((_ns, pod, container)): Path<(String, String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return text(
            StatusCode::BAD_REQUEST,
            "Upgrade request required: exec speaks the v5.channel.k8s.io WebSocket protocol".into(),
        );
    };
    let ws = ws.protocols(exec::PROTOCOLS);
    if ws.selected_protocol().is_none() {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported remote command protocol; the agent speaks {}",
                exec::PROTOCOLS.join(", ")
            ),
        );
    }
    let params = ExecParams::from_query(&pairs);
    if params.command.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "you must specify at least one command for the container".into(),
        );
    }
    let Ok(all) = state.runtime.list().await else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the container runtime is not answering".into(),
        );
    };
    let Some(run) = all
        .into_iter()
        .filter(|c| c.pod_uid == params.pod_uid && c.name == container)
        .max_by_key(|c| c.attempt)
    else {
        return text(
            StatusCode::NOT_FOUND,
            format!("container not found (\"{container}\") in pod \"{pod}\""),
        );
    };
    if !matches!(run.state, ContainerState::Running { .. }) {
        return text(
            StatusCode::BAD_REQUEST,
            format!("container \"{container}\" in pod \"{pod}\" is not running"),
        );
    }
    let request = ExecRequest {
        command: params.command.clone(),
        stdin: params.stdin,
        tty: params.tty,
    };
    let session = match state.runtime.exec_stream(&run.id, request).await {
        Ok(s) => s,
        Err(RuntimeError::NotFound(m)) => return text(StatusCode::NOT_FOUND, m),
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    ws.on_upgrade(move |socket| exec::serve(socket, session, params))
}

/// The pods an agent runs: uid → (namespace, name), kept by the agent for the endpoint.
pub type PodNames = Arc<std::sync::RwLock<HashMap<String, (String, String)>>>;

/// `GET /stats/summary`: the node's and its pods' usage, as the kubelet serves it.
async fn stats_summary(State(state): State<AppState>) -> Response {
    let Ok(containers) = state.runtime.list().await else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the container runtime is not answering".into(),
        );
    };
    let ids: Vec<String> = containers
        .iter()
        .filter(|c| matches!(c.state, ContainerState::Running { .. }))
        .map(|c| c.id.clone())
        .collect();
    // Without an earlier reading there is no rate yet: take one now, and another shortly.
    let rounds = if state.rates.is_empty() { 2 } else { 1 };
    let mut summary = None;
    for round in 0..rounds {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let usage = match state.runtime.usage(&ids).await {
            Ok(u) => u,
            Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        };
        let node = tokio::task::spawn_blocking(stats::node_usage)
            .await
            .unwrap_or(stats::NodeUsage {
                core_nanoseconds: 0,
                memory_usage_bytes: 0,
                memory_working_set_bytes: 0,
            });
        let pods = state
            .pods
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let rates = state.rates.clone();
        summary = Some(stats::summary(
            &state.node_name,
            k8s_openapi::jiff::Timestamp::now(),
            node,
            &containers,
            &usage,
            &pods,
            &move |key, sample| rates.observe(key, sample),
        ));
    }
    state
        .rates
        .retain(&|key| key == "node" || ids.iter().any(|id| id == key));
    let body = serde_json::to_vec(&summary).unwrap_or_default();
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

fn router(runtime: Arc<dyn ContainerRuntime>, node_name: String, pods: PodNames) -> Router {
    Router::new()
        .route(
            "/exec/{namespace}/{pod}/{container}",
            any(exec_in_container),
        )
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/stats/summary", get(stats_summary))
        .with_state(AppState {
            runtime,
            node_name,
            pods,
            rates: Arc::new(stats::Rates::default()),
        })
}

/// Whether a verified client certificate may use the agent's endpoint.
fn allowed(user: Option<&bosun_pki::User>) -> bool {
    user.is_some_and(|u| {
        u.name == bosun_pki::kubelet_client_user().name
            || u.groups.iter().any(|g| g == "system:masters")
    })
}

/// Serve the endpoint on `listener` until `stop`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    runtime: Arc<dyn ContainerRuntime>,
    node_name: String,
    pods: PodNames,
    stop: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(runtime, node_name, pods);
    loop {
        let tcp = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let user = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| bosun_pki::user_from_cert(c.as_ref()));
            let permitted = allowed(user.as_ref());
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        if !permitted {
                            return Ok::<_, std::convert::Infallible>(text(
                                StatusCode::FORBIDDEN,
                                "forbidden: only the API server may call the node agent".into(),
                            ));
                        }
                        app.oneshot(req.map(Body::new)).await
                    }
                });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// Bind the endpoint's listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_byte_limit_cuts_the_stream() {
        let chunks: Vec<std::io::Result<bytes::Bytes>> =
            vec![Ok("abc".into()), Ok("def".into()), Ok("ghi".into())];
        let limited: Vec<_> = limit_bytes(Box::pin(futures::stream::iter(chunks)), 5)
            .map(|c| c.expect("chunk"))
            .collect()
            .await;
        assert_eq!(limited, vec![bytes::Bytes::from("abc"), "de".into()]);
    }

    #[test]
    fn only_the_api_server_identity_or_masters_are_allowed() {
        assert!(allowed(Some(&bosun_pki::kubelet_client_user())));
        assert!(allowed(Some(&bosun_pki::admin_user())));
        assert!(!allowed(Some(&bosun_pki::node_user("n1"))));
        assert!(!allowed(None));
    }
}
