//! The API server's router in-process over the memory store (no socket), with the namespaces
//! and the system PriorityClasses created as at server start and an admin token; requests go
//! through `tower::ServiceExt::oneshot`.

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bosun_apiserver::{AppState, router};
use bosun_pki::TokenFile;
use bosun_store::MemoryStore;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub struct Api {
    pub app: axum::Router,
    pub store: Arc<MemoryStore>,
    pub token: String,
    _dir: tempfile::TempDir,
}

pub async fn api() -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens =
        TokenFile::load_or_create(&dir.path().join("tokens.csv"), &[bosun_pki::admin_user()])
            .expect("tokens");
    let token = tokens.token_for("admin").expect("admin").to_string();
    let store = Arc::new(MemoryStore::default());
    bosun_apiserver::bootstrap::ensure_namespaces(store.as_ref())
        .await
        .expect("namespaces");
    bosun_apiserver::priority::ensure_system_classes(store.as_ref())
        .await
        .expect("system classes");
    let app = router(AppState::new(
        store.clone(),
        tokens,
        "127.0.0.1:6443".into(),
    ));
    Api {
        app,
        store,
        token,
        _dir: dir,
    }
}

impl Api {
    /// One request as the admin; the answer's status and JSON body (Null when not JSON).
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// [`Api::call`] with a JSON body.
    pub async fn call_json(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(method, uri, "application/json", body.to_string())
            .await
    }
}
