//! `bosun up`: a one-machine cluster in one command: the embedded store (a raft group of one),
//! the API server on HTTPS, a CA and an admin kubeconfig in the data dir. Run again with the
//! same data dir, it comes back with every object.

use anyhow::{Context, Result};
use bosun_apiserver::{ApiServer, ApiServerConfig};
use bosun_pki::{Credential, Pki, TokenFile};
use bosun_store_raft::{RaftConfig, RaftStore};
use clap::Args;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where everything lives: store, certificates, tokens, kubeconfig, logs.
    #[arg(long, default_value = "bosun-data")]
    pub data_dir: PathBuf,
    /// The API server's HTTPS port on 127.0.0.1.
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Compact the store's history this often, in seconds.
    #[arg(long, default_value_t = 300)]
    pub compaction_interval_s: u64,
    /// Delete Events older than this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub event_ttl_s: u64,
}

pub async fn run(args: UpArgs) -> Result<()> {
    let started = Instant::now();
    let dir = std::path::absolute(&args.data_dir).context("resolve the data dir")?;
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("create {}", dir.display()))?;

    let mut store_config = RaftConfig::new(
        1,
        "bosun-up",
        dir.join("store"),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    );
    store_config.heartbeat = Duration::from_millis(60);
    let store = RaftStore::start(store_config)
        .await
        .context("the embedded store failed to start")?;
    store
        .wait_for_leader(Duration::from_secs(10))
        .await
        .context("the embedded store elected no leader")?;

    let pki = Pki::load_or_create(&dir.join("pki"), &[]).context("certificates")?;
    let users = [
        bosun_pki::admin_user(),
        bosun_pki::scheduler_user(),
        bosun_pki::controller_manager_user(),
    ];
    let tokens = TokenFile::load_or_create(&dir.join("tokens.csv"), &users).context("tokens")?;
    let admin_token = tokens
        .token_for("admin")
        .context("no admin token in tokens.csv")?
        .to_string();

    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let server = ApiServer::start(ApiServerConfig {
        listen,
        tls: Arc::new(pki.server_config().context("TLS configuration")?),
        tokens,
        store: Arc::new(store.clone()),
        compaction_interval: Duration::from_secs(args.compaction_interval_s),
        event_ttl: Duration::from_secs(args.event_ttl_s),
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    let url = format!("https://{}", server.addr());
    let kubeconfig = dir.join("kubeconfig");
    let text = bosun_pki::kubeconfig(
        "bosun",
        &url,
        pki.ca_pem(),
        "admin",
        Credential::Token(admin_token),
    );
    write_private(&kubeconfig, &text)?;
    println!("export KUBECONFIG={}", kubeconfig.display());
    println!(
        "bosun is ready at {url} ({} ms)",
        started.elapsed().as_millis()
    );

    crate::signal::shutdown().await;
    server.shutdown().await;
    store.shutdown().await;
    println!("bosun stopped");
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))
}
