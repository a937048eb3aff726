//! [`ApiServer`]: bind, serve HTTPS (HTTP/1.1 and HTTP/2) with the router, run housekeeping,
//! stop on request.

use crate::router::{PeerUser, router};
use crate::state::AppState;
use bosun_pki::TokenFile;
use bosun_store::Store;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How an API server is set up.
#[derive(Clone)]
pub struct ApiServerConfig {
    pub listen: SocketAddr,
    pub tls: Arc<rustls::ServerConfig>,
    pub tokens: TokenFile,
    pub store: Arc<dyn Store>,
    /// Compact the store's history this often (Kubernetes compacts etcd every 5 minutes).
    pub compaction_interval: Duration,
    /// Events older than this are deleted.
    pub event_ttl: Duration,
    /// A client with the API server's kubelet-client certificate, for node agents.
    pub kubelet_client: Option<reqwest::Client>,
    /// At most this many watches are open at once; more get 429 TooManyRequests
    /// ([`crate::watch_slots::DEFAULT_MAX_WATCHES`] is a good default).
    pub max_watches: usize,
}

impl std::fmt::Debug for ApiServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerConfig")
            .field("listen", &self.listen)
            .field("store", &self.store)
            .field("max_watches", &self.max_watches)
            .finish_non_exhaustive()
    }
}

/// Why the API server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the built-in objects (namespaces, priority classes): {0}")]
    Bootstrap(String),
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The resources whose watch caches start with the server: what the scheduler, the node
/// agents and the controller manager watch in every cluster. The others' caches start on first
/// use.
pub const EAGER_CACHES: [(&str, &str, &str); 3] = [
    ("", "v1", "pods"),
    ("", "v1", "nodes"),
    ("", "v1", "namespaces"),
];

impl ApiServer {
    pub async fn start(config: ApiServerConfig) -> Result<Self, StartError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
        crate::bootstrap::ensure_namespaces(config.store.as_ref())
            .await
            .map_err(|e| StartError::Bootstrap(e.to_string()))?;
        crate::priority::ensure_system_classes(config.store.as_ref())
            .await
            .map_err(|e| StartError::Bootstrap(e.to_string()))?;
        let state = AppState::new(
            config.store.clone(),
            config.tokens.clone(),
            addr.to_string(),
        )
        .with_kubelet_client(config.kubelet_client.clone())
        .with_max_watches(config.max_watches);
        // As kube-apiserver starts its watch caches with its storage: a cache made on first
        // use loads after the first client's LIST, so that client's watch from the LIST's
        // revision is older than the cache and is served by a store watch of its own.
        for (group, version, plural) in EAGER_CACHES {
            if let Some(res) = bosun_api::resources::find(group, version, plural) {
                state.watch_caches().get(res);
            }
        }
        let shutdown = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(accept_loop(
                listener,
                config.tls.clone(),
                state.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(crate::housekeeping::run(
                config.store.clone(),
                config.compaction_interval,
                config.event_ttl,
                shutdown.clone(),
            )),
        ];
        Ok(Self {
            addr,
            state,
            shutdown,
            tasks,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, end open connections, stop housekeeping and the watch caches.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.state.watch_caches().stop();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
    shutdown: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(state);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, _peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    _ => return,
                };
            let user = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| bosun_pki::user_from_cert(cert.as_ref()));
            let peer = PeerUser(user);
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(peer.clone());
                    app.clone().oneshot(req.map(axum::body::Body::new))
                },
            );
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = shutdown.cancelled() => {}
            }
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}
