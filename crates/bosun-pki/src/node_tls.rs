//! TLS between the API server and node agents, as between kube-apiserver and kubelets: the
//! agent serves HTTPS with a self-signed certificate and accepts only clients whose certificate
//! chains to the cluster CA; the API server presents its kubelet-client certificate and, like
//! kube-apiserver without `--kubelet-certificate-authority`, does not verify the agent's.

use crate::{PkiError, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::sync::Arc;

/// The agent's server side: a fresh self-signed certificate for `hosts`, client certificates
/// signed by the CA in `ca_pem` required.
pub fn agent_server_config(ca_pem: &str, hosts: &[String]) -> Result<rustls::ServerConfig> {
    let tls = |e: &dyn std::fmt::Display| PkiError::Tls(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls(&e))?;
    let certified = rcgen::generate_simple_self_signed(hosts.to_vec())?;
    let key = PrivateKeyDer::from_pem_slice(certified.signing_key.serialize_pem().as_bytes())
        .map_err(|e| tls(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .map_err(|e| tls(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
