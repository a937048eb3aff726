//! The API server over its store, as `bosun up` and `bosun apiserver` start it: the embedded
//! raft store (a member of a group of one or more) or an external etcd, the PKI and tokens, and
//! the HTTPS API server.

use anyhow::{Context, Result};
use bosun_apiserver::{ApiServer, ApiServerConfig};
use bosun_pki::{Credential, Pki, TokenFile};
use bosun_store::Store;
use bosun_store_raft::{RaftConfig, RaftStore};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where cluster state lives.
#[derive(Debug, Clone)]
pub enum StoreChoice {
    /// A member of the embedded raft store.
    Embedded(Box<RaftConfig>),
    /// An external etcd cluster.
    Etcd(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    pub store: StoreChoice,
    /// CA and serving certificate (shared by every replica of one cluster).
    pub pki_dir: PathBuf,
    /// Bearer tokens (shared by every replica of one cluster).
    pub token_file: PathBuf,
    pub listen: SocketAddr,
    /// Extra names and addresses for the serving certificate.
    pub extra_hosts: Vec<String>,
    /// The URL clients use (written into kubeconfigs); default `https://<listen address>`.
    pub advertise_url: Option<String>,
    pub compaction_interval: Duration,
    pub event_ttl: Duration,
    /// The cap on open watches.
    pub max_watches: usize,
}

/// A component that gets its own identity and kubeconfig.
#[derive(Debug, Clone, Copy)]
pub enum Component<'a> {
    Node(&'a str),
    Scheduler,
    ControllerManager,
}

/// A running API server and, when embedded, its store member.
#[derive(Debug)]
pub struct ControlPlane {
    server: ApiServer,
    advertise_url: Option<String>,
    pki: Pki,
    pki_dir: PathBuf,
    tokens: TokenFile,
    raft: Option<RaftStore>,
    ca_pem: String,
    admin_token: String,
}

impl ControlPlane {
    pub async fn start(config: ControlPlaneConfig) -> Result<Self> {
        // Certificates and tokens first: they need no quorum, and replicas share them.
        let pki =
            Pki::load_or_create(&config.pki_dir, &config.extra_hosts).context("certificates")?;
        let users = [
            bosun_pki::admin_user(),
            bosun_pki::scheduler_user(),
            bosun_pki::controller_manager_user(),
        ];
        let tokens = TokenFile::load_or_create(&config.token_file, &users).context("tokens")?;
        let admin_token = tokens
            .token_for("admin")
            .context("no admin token in the token file")?
            .to_string();
        let (store, raft): (Arc<dyn Store>, Option<RaftStore>) = match config.store {
            StoreChoice::Embedded(raft_config) => {
                let raft = RaftStore::start(*raft_config)
                    .await
                    .context("the embedded store failed to start")?;
                raft.wait_for_leader(Duration::from_secs(30))
                    .await
                    .context("the embedded store elected no leader")?;
                (Arc::new(raft.clone()), Some(raft))
            }
            StoreChoice::Etcd(endpoints) => {
                let etcd = bosun_store_etcd::EtcdStore::connect(&endpoints)
                    .await
                    .with_context(|| format!("connect to etcd at {}", endpoints.join(",")))?;
                (Arc::new(etcd), None)
            }
        };
        let (cert_pem, key_pem) = pki
            .load_or_issue_client_cert(
                &config.pki_dir.join("clients"),
                "apiserver-kubelet-client",
                &bosun_pki::kubelet_client_user(),
            )
            .context("the API server's kubelet-client certificate")?;
        let identity = reqwest::Identity::from_pem(format!("{cert_pem}{key_pem}").as_bytes())
            .context("the kubelet-client identity")?;
        // Like kube-apiserver without --kubelet-certificate-authority: agents' serving
        // certificates are self-signed and not verified; the agent verifies us.
        let kubelet_client = reqwest::Client::builder()
            .identity(identity)
            .danger_accept_invalid_certs(true)
            .build()
            .context("the node agent client")?;
        let server = ApiServer::start(ApiServerConfig {
            kubelet_client: Some(kubelet_client),
            listen: config.listen,
            tls: Arc::new(pki.server_config().context("TLS configuration")?),
            tokens,
            store,
            compaction_interval: config.compaction_interval,
            event_ttl: config.event_ttl,
            max_watches: config.max_watches,
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            server,
            advertise_url: config.advertise_url.clone(),
            ca_pem: pki.ca_pem().to_string(),
            pki,
            pki_dir: config.pki_dir.clone(),
            tokens: TokenFile::load(&config.token_file).context("tokens")?,
            raft,
            admin_token,
        })
    }

    /// The URL clients use: the advertised one, or the listen address.
    pub fn url(&self) -> String {
        self.advertise_url
            .clone()
            .unwrap_or_else(|| format!("https://{}", self.server.addr()))
    }

    /// Write an admin kubeconfig (mode 0600).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        self.write_kubeconfig_as(path, "admin", Credential::Token(self.admin_token.clone()))
    }

    /// Write a component's kubeconfig: a node agent's with a client certificate naming
    /// `system:node:<name>`, the scheduler's and controller manager's with their tokens.
    pub fn write_component_kubeconfig(&self, path: &Path, component: Component<'_>) -> Result<()> {
        let (user, credential) = match component {
            Component::Node(name) => {
                let user = bosun_pki::node_user(name);
                let (cert_pem, key_pem) = self
                    .pki
                    .load_or_issue_client_cert(
                        &self.pki_dir.join("clients"),
                        &format!("node-{name}"),
                        &user,
                    )
                    .context("node client certificate")?;
                (user.name, Credential::ClientCert { cert_pem, key_pem })
            }
            Component::Scheduler | Component::ControllerManager => {
                let user = match component {
                    Component::Scheduler => bosun_pki::scheduler_user(),
                    _ => bosun_pki::controller_manager_user(),
                };
                let token = self
                    .tokens
                    .token_for(&user.name)
                    .with_context(|| format!("no token for {} in the token file", user.name))?
                    .to_string();
                (user.name, Credential::Token(token))
            }
        };
        self.write_kubeconfig_as(path, &user, credential)
    }

    /// Write a kubeconfig (mode 0600) under a temporary name, then rename it into place, so a
    /// component waiting for the file never reads half of it (replicas of one cluster may
    /// write the same file).
    fn write_kubeconfig_as(&self, path: &Path, user: &str, credential: Credential) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let text = bosun_pki::kubeconfig("bosun", &self.url(), &self.ca_pem, user, credential);
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("write {}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
        if let Some(raft) = self.raft {
            raft.shutdown().await;
        }
    }
}
