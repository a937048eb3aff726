//! Kubeconfigs: what kubectl (and every other client) needs to reach and trust a server.
//! Written as JSON, which kubectl reads as it reads YAML.

use base64::Engine;
use serde_json::json;

/// How the kubeconfig's user proves who it is.
#[derive(Clone)]
pub enum Credential {
    /// A bearer token (`users[].user.token`).
    Token(String),
    /// A client certificate and its key, both PEM (`client-certificate-data`,
    /// `client-key-data`).
    ClientCert { cert_pem: String, key_pem: String },
}

impl std::fmt::Debug for Credential {
    /// Names the kind of credential, never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token(_) => f.write_str("Token(..)"),
            Credential::ClientCert { .. } => f.write_str("ClientCert { .. }"),
        }
    }
}

/// A kubeconfig (JSON text) with one cluster (`server` and the base64 of `ca_pem` as
/// `certificate-authority-data`), one user named `user` with `credential`, and one context
/// named `context` joining them, which is the current context. The cluster is named after the
/// context.
pub fn kubeconfig(
    context: &str,
    server: &str,
    ca_pem: &str,
    user: &str,
    credential: Credential,
) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let user_entry = match credential {
        Credential::Token(token) => json!({ "token": token }),
        Credential::ClientCert { cert_pem, key_pem } => json!({
            "client-certificate-data": b64(&cert_pem),
            "client-key-data": b64(&key_pem),
        }),
    };
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": context,
            "cluster": { "server": server, "certificate-authority-data": b64(ca_pem) },
        }],
        "users": [{ "name": user, "user": user_entry }],
        "contexts": [{ "name": context, "context": { "cluster": context, "user": user } }],
        "current-context": context,
        "preferences": {},
    });
    // A `Value` always serializes; the fallback is never taken.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn decode(v: &Value) -> String {
        let b = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("a string"))
            .expect("base64");
        String::from_utf8(b).expect("utf-8")
    }

    #[test]
    fn a_token_kubeconfig_carries_the_server_the_ca_and_the_token() {
        let ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let text = kubeconfig(
            "bosun",
            "https://127.0.0.1:6443",
            ca,
            "admin",
            Credential::Token("s3cret".into()),
        );
        let v: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["current-context"], "bosun");
        assert_eq!(v["contexts"][0]["name"], "bosun");
        assert_eq!(v["contexts"][0]["context"]["user"], "admin");
        assert_eq!(
            v["contexts"][0]["context"]["cluster"],
            v["clusters"][0]["name"]
        );
        let cluster = &v["clusters"][0]["cluster"];
        assert_eq!(cluster["server"], "https://127.0.0.1:6443");
        assert_eq!(decode(&cluster["certificate-authority-data"]), ca);
        assert_eq!(v["users"][0]["name"], "admin");
        assert_eq!(v["users"][0]["user"]["token"], "s3cret");
    }

    #[test]
    fn a_certificate_kubeconfig_carries_the_certificate_and_key_data() {
        let text = kubeconfig(
            "node",
            "https://10.0.0.1:6443",
            "ca",
            "system:node:n1",
            Credential::ClientCert {
                cert_pem: "cert".into(),
                key_pem: "key".into(),
            },
        );
        let v: Value = serde_json::from_str(&text).expect("JSON");
        let user = &v["users"][0]["user"];
        assert_eq!(decode(&user["client-certificate-data"]), "cert");
        assert_eq!(decode(&user["client-key-data"]), "key");
        assert!(user.get("token").is_none());
    }

    #[test]
    fn a_credential_debug_never_shows_the_secret() {
        let shown = format!("{:?}", Credential::Token("s3cret".into()));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
