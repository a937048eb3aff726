//! Real TLS handshakes against the generated certificates, and kubectl reading a kubeconfig.

use bosun_pki::{Credential, Pki, User, kubeconfig, user_from_cert};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client_config(pki: &Pki, client: Option<(String, String)>) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pki.ca_pem().as_bytes()) {
        roots.add(c.expect("ca pem")).expect("add root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = rustls_pemfile::certs(&mut cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("cert");
            let key = rustls_pemfile::private_key(&mut key.as_bytes())
                .expect("key")
                .expect("a key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
    }
}

/// Serve one TLS connection; report the user its client certificate names.
async fn serve_once(pki: &Pki) -> (u16, tokio::task::JoinHandle<Option<Option<User>>>) {
    let acceptor =
        tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config().expect("server config")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.ok()?;
        let mut tls = acceptor.accept(tcp).await.ok()?;
        let user = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| user_from_cert(c.as_ref()));
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.ok()?;
        tls.write_all(b"pong").await.ok()?;
        Some(user)
    });
    (port, handle)
}

async fn connect(port: u16, host: &str, config: rustls::ClientConfig) -> std::io::Result<()> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name =
        rustls::pki_types::ServerName::try_from(host.to_string()).map_err(std::io::Error::other)?;
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    tls.read_exact(&mut buf).await?;
    Ok(())
}

#[tokio::test]
async fn clients_trusting_the_ca_connect_by_ip_and_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    for host in ["127.0.0.1", "localhost"] {
        let (port, server) = serve_once(&pki).await;
        connect(port, host, client_config(&pki, None))
            .await
            .expect("handshake");
        assert_eq!(
            server.await.expect("server task"),
            Some(None),
            "no client certificate, no user"
        );
    }
}

#[tokio::test]
async fn a_client_certificate_names_its_user_and_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    let node = bosun_pki::node_user("n1");
    let cert = pki.issue_client_cert(&node).expect("client cert");
    let (port, server) = serve_once(&pki).await;
    connect(port, "localhost", client_config(&pki, Some(cert)))
        .await
        .expect("handshake");
    let user = server
        .await
        .expect("server task")
        .flatten()
        .expect("a user");
    assert_eq!(user.name, "system:node:n1");
    assert_eq!(user.groups, vec!["system:nodes", "system:authenticated"]);
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_rejected() {
    let ours = tempfile::tempdir().expect("tempdir");
    let theirs = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(ours.path(), &[]).expect("pki");
    let other = Pki::load_or_create(theirs.path(), &[]).expect("other pki");
    let foreign = other
        .issue_client_cert(&bosun_pki::admin_user())
        .expect("cert");
    let (port, server) = serve_once(&pki).await;
    let result = connect(port, "localhost", client_config(&pki, Some(foreign))).await;
    assert!(
        result.is_err() || server.await.expect("task").is_none(),
        "a foreign client certificate must not be accepted"
    );
}

#[test]
fn the_pki_is_created_once_and_corruption_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Pki::load_or_create(dir.path(), &["10.1.2.3".into()]).expect("create");
    let again = Pki::load_or_create(dir.path(), &["10.1.2.3".into()]).expect("load");
    assert_eq!(first.ca_pem(), again.ca_pem());
    std::fs::write(dir.path().join("ca.crt"), "garbage").expect("write");
    let err = Pki::load_or_create(dir.path(), &[]).expect_err("corrupt");
    assert!(err.to_string().contains("ca.crt"), "{err}");
}

#[test]
fn kubectl_reads_the_generated_kubeconfig() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(dir.path(), &[]).expect("pki");
    let text = kubeconfig(
        "bosun",
        "https://127.0.0.1:6443",
        pki.ca_pem(),
        "admin",
        Credential::Token("t0k".into()),
    );
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, &text).expect("write");
    let out = std::process::Command::new("kubectl")
        .args(["config", "view", "--raw", "-o", "json", "--kubeconfig"])
        .arg(&path)
        .env("HOME", dir.path())
        .output()
        .expect("kubectl v1.32 on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["current-context"], "bosun");
    assert_eq!(v["users"][0]["user"]["token"], "t0k");
    assert!(
        v["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}
