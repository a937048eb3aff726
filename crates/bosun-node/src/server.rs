//! The agent's HTTPS endpoint, which the API server proxies `pods/log` to. Only clients with a
//! certificate from the cluster CA naming the API server's kubelet-client identity (or a
//! `system:masters` member) are served.

use crate::runtime::{ContainerInfo, ContainerRuntime, ContainerState};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

#[derive(Debug, Clone)]
struct AppState {
    runtime: Arc<dyn ContainerRuntime>,
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

/// The last `n` lines of `text`.
pub fn tail(text: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &[];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return &text[i + 1..];
            }
        }
    }
    text
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
    let Some(path) = state.runtime.log_path(&run.id) else {
        return text(StatusCode::OK, String::new());
    };
    let mut content = tokio::fs::read(&path).await.unwrap_or_default();
    if let Some(n) = q.tail_lines {
        content = tail(&content, n).to_vec();
    }
    if let Some(limit) = q.limit_bytes {
        content.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let follow = q.follow && !q.previous && matches!(run.state, ContainerState::Running { .. });
    if !follow {
        return (StatusCode::OK, [("content-type", "text/plain")], content).into_response();
    }
    // Follow: what there is, then what is appended, until the container ends.
    let runtime = state.runtime.clone();
    let id = run.id.clone();
    let stream = async_stream(path, content, runtime, id);
    (
        StatusCode::OK,
        [("content-type", "text/plain")],
        Body::from_stream(stream),
    )
        .into_response()
}

fn async_stream(
    path: std::path::PathBuf,
    first: Vec<u8>,
    runtime: Arc<dyn ContainerRuntime>,
    id: String,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(
        (Some(first), None::<u64>, false),
        move |(first, offset, ended)| {
            let path = path.clone();
            let runtime = runtime.clone();
            let id = id.clone();
            async move {
                if let Some(first) = first {
                    let len = tokio::fs::metadata(&path)
                        .await
                        .map(|m| m.len())
                        .unwrap_or(0);
                    return Some((Ok(first), (None, Some(len), false)));
                }
                if ended {
                    return None;
                }
                let mut offset = offset.unwrap_or(0);
                loop {
                    let len = tokio::fs::metadata(&path)
                        .await
                        .map(|m| m.len())
                        .unwrap_or(0);
                    if len < offset {
                        offset = 0; // rotated
                    }
                    if len > offset {
                        let mut f = tokio::fs::File::open(&path).await.ok()?;
                        f.seek(std::io::SeekFrom::Start(offset)).await.ok()?;
                        let mut buf = Vec::new();
                        f.read_to_end(&mut buf).await.ok()?;
                        let next = offset + buf.len() as u64;
                        return Some((Ok(buf), (None, Some(next), false)));
                    }
                    let running = runtime
                        .list()
                        .await
                        .ok()
                        .and_then(|all| all.into_iter().find(|c| c.id == id))
                        .is_some_and(|c| matches!(c.state, ContainerState::Running { .. }));
                    if !running {
                        return Some((Ok(Vec::new()), (None, Some(offset), true)));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        },
    )
}

fn router(runtime: Arc<dyn ContainerRuntime>) -> Router {
    Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(AppState { runtime })
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
    stop: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(runtime);
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
            let conn = builder.serve_connection(TokioIo::new(stream), service);
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

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", 0), b"");
    }

    #[test]
    fn only_the_api_server_identity_or_masters_are_allowed() {
        assert!(allowed(Some(&bosun_pki::kubelet_client_user())));
        assert!(allowed(Some(&bosun_pki::admin_user())));
        assert!(!allowed(Some(&bosun_pki::node_user("n1"))));
        assert!(!allowed(None));
    }
}
