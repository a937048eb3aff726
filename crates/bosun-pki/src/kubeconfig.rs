//! Kubeconfigs: what kubectl (and every client) needs to reach and trust a server. Written as
//! JSON, which kubectl reads like YAML.

use base64::Engine;
use serde_json::json;

/// How the user proves who it is.
#[derive(Clone, Debug)]
pub enum Credential {
    Token(String),
    ClientCert { cert_pem: String, key_pem: String },
}

/// A kubeconfig with one cluster, one user and one context (the current one).
pub fn kubeconfig(
    context: &str,
    server: &str,
    ca_pem: &str,
    user: &str,
    credential: Credential,
) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let user_entry = match credential {
        Credential::Token(t) => json!({"token": t}),
        Credential::ClientCert { cert_pem, key_pem } => {
            json!({"client-certificate-data": b64(&cert_pem), "client-key-data": b64(&key_pem)})
        }
    };
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
        "preferences": {},
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
