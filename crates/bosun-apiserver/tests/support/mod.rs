//! An API server in-process on a loopback port over the memory store, with its own PKI and
//! admin token, and clients for it: reqwest (raw HTTP) and the `kube` crate.

#![allow(dead_code)]

use bosun_apiserver::{ApiServer, ApiServerConfig};
use bosun_pki::{Pki, TokenFile};
use bosun_store::MemoryStore;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub struct Server {
    pub server: Option<ApiServer>,
    pub url: String,
    pub token: String,
    pub ca_pem: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(max_watches: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::load_or_create(&dir.path().join("pki"), &[]).expect("pki");
        let tokens =
            TokenFile::load_or_create(&dir.path().join("tokens.csv"), &[bosun_pki::admin_user()])
                .expect("tokens");
        let token = tokens.token_for("admin").expect("admin token").to_string();
        let server = ApiServer::start(ApiServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            tls: Arc::new(pki.server_config().expect("tls")),
            tokens,
            store: Arc::new(MemoryStore::default()),
            compaction_interval: Duration::from_secs(300),
            event_ttl: Duration::from_secs(3600),
            kubelet_client: None,
            max_watches,
        })
        .await
        .expect("start");
        let url = format!("https://{}", server.addr());
        let http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).expect("ca"),
            )
            .build()
            .expect("client");
        Self {
            server: Some(server),
            url,
            token,
            ca_pem: pki.ca_pem().to_string(),
            http,
            _dir: dir,
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    /// A request with a JSON body; the status and the JSON answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.request(method, path);
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.expect("send");
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn metrics(&self) -> String {
        self.request(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// A `kube` client for this server.
    pub fn kube(&self) -> kube::Client {
        let mut config = kube::Config::new(self.url.parse().expect("url"));
        config.root_cert = Some(vec![pem_to_der(&self.ca_pem)]);
        config.auth_info.token = Some(self.token.clone().into());
        config.default_namespace = "default".into();
        kube::Client::try_from(config).expect("kube client")
    }

    /// Run the real kubectl against this server (its own kubeconfig and cache dir); stdout,
    /// panicking with stderr when it fails.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        let kubeconfig = self._dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            bosun_pki::kubeconfig(
                "test",
                &self.url,
                &self.ca_pem,
                "admin",
                bosun_pki::Credential::Token(self.token.clone()),
            ),
        )
        .expect("kubeconfig");
        let out = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(self._dir.path().join("kubectl-cache"))
            .args(args)
            .output()
            .await
            .expect("kubectl on PATH");
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("ca pem")
}

/// The next event of a watch response, parsed; `buf` keeps what arrived after that event's
/// line. Fails the test when none arrives within 10 s or the watch ends.
pub async fn next_watch_event(resp: &mut reqwest::Response, buf: &mut Vec<u8>) -> Value {
    loop {
        if let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            return serde_json::from_slice(&line).expect("an event line");
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event in time")
            .expect("chunk")
            .expect("the watch stays open");
        buf.extend_from_slice(&chunk);
    }
}
