//! Real TLS over loopback: a server with `Pki::server_config()` and clients trusting a CA.

#![allow(dead_code)] // Each test binary uses a part.

use bosun_pki::{Pki, User, user_from_cert};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the server saw on one connection.
#[derive(Debug)]
pub struct Accepted {
    /// The user the client certificate names, if the client sent one.
    pub user: Option<User>,
    pub alpn: Option<Vec<u8>>,
}

/// A client trusting `ca_pem`, optionally presenting a client certificate (cert, key PEM).
pub fn client_config(ca_pem: &str, client: Option<(String, String)>) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("ca pem")).expect("add root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("cert");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
    }
}

/// Serve one TLS connection on 127.0.0.1: answer "ping" with "pong" and report what the
/// server saw; `None` when the handshake or the exchange failed.
pub async fn serve_once(pki: &Pki) -> (u16, tokio::task::JoinHandle<Option<Accepted>>) {
    let acceptor =
        tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config().expect("server config")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.ok()?;
        let mut tls = acceptor.accept(tcp).await.ok()?;
        let conn = tls.get_ref().1;
        let accepted = Accepted {
            user: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| user_from_cert(c.as_ref())),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        };
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.ok()?;
        tls.write_all(b"pong").await.ok()?;
        tls.flush().await.ok()?;
        Some(accepted)
    });
    (port, handle)
}

/// Connect to 127.0.0.1:`port` asking for the server name `host`, and exchange ping/pong.
pub async fn connect(port: u16, host: &str, config: rustls::ClientConfig) -> std::io::Result<()> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from(host.to_string()).map_err(std::io::Error::other)?;
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    tls.read_exact(&mut buf).await?;
    if &buf != b"pong" {
        return Err(std::io::Error::other("no pong"));
    }
    Ok(())
}

/// A full exchange with a fresh server of `pki`, asking for `host`; what the server saw.
pub async fn handshake(
    pki: &Pki,
    host: &str,
    config: rustls::ClientConfig,
) -> std::io::Result<Accepted> {
    let (port, server) = serve_once(pki).await;
    let client = connect(port, host, config).await;
    let seen = server.await.expect("server task");
    client?;
    seen.ok_or_else(|| std::io::Error::other("the server refused the connection"))
}
