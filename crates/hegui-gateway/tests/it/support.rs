//! A gateway on a random port in front of a fake upstream, with a temporary data directory.

use hegui_core::SystemClock;
use hegui_gateway::{Config, Gateway};
use hegui_identity::verify::MemorySender;
use hegui_testkit::FakeUpstream;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The admin token every test gateway accepts (role admin).
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// A reviewer token.
pub const REVIEWER_TOKEN: &str = "test-reviewer-token";
/// An auditor token.
pub const AUDITOR_TOKEN: &str = "test-auditor-token";

pub struct TestGateway {
    pub url: String,
    pub gw: Arc<Gateway>,
    pub key: String,
    pub app_id: String,
    pub upstream: FakeUpstream,
    pub sms: Arc<MemorySender>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn token(name: &str, role: &str, t: &str) -> hegui_gateway::config::AdminToken {
    hegui_gateway::config::AdminToken {
        name: name.into(),
        role: role.into(),
        token_sha256: hex::encode(Sha256::digest(t.as_bytes())),
    }
}

/// The default test configuration: fake upstream, temp data dir, admin tokens.
pub fn config(dir: &std::path::Path, upstream: &str) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        upstream: upstream.to_owned(),
        upstream_timeout_secs: 2,
        admin: vec![
            token("root", "admin", ADMIN_TOKEN),
            token("rita", "reviewer", REVIEWER_TOKEN),
            token("audrey", "auditor", AUDITOR_TOKEN),
        ],
        ..Config::default()
    }
}

impl TestGateway {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> Self {
        Self::start_full(edit, Default::default()).await
    }

    pub async fn start_full(
        edit: impl FnOnce(&mut Config),
        providers: hegui_gateway::identity::Providers,
    ) -> Self {
        let upstream = FakeUpstream::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), &upstream.base_url());
        edit(&mut cfg);
        let sms = Arc::new(MemorySender::new());
        let gw = Gateway::start_with(cfg, Arc::new(SystemClock), sms.clone(), providers)
            .await
            .unwrap();
        let (app, key) = hegui_gateway::state::create_app(
            gw.store.as_ref(),
            "test-app",
            Default::default(),
            gw.now(),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let g = gw.clone();
        let task = tokio::spawn(async move {
            let _ = hegui_gateway::serve(g, listener, std::future::pending()).await;
        });
        TestGateway {
            url,
            gw,
            key,
            app_id: app.id,
            upstream,
            sms,
            http: reqwest::Client::new(),
            dir,
            task,
        }
    }

    /// POSTs JSON with the app key.
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A chat request body for `user` with one user message.
    pub fn chat(user: &str, text: &str, stream: bool) -> Value {
        json!({"model": "fake-model", "user": user, "stream": stream,
               "messages": [{"role": "user", "content": text}]})
    }

    /// Admin API call.
    pub async fn admin(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut rb = self
            .http
            .request(method, format!("{}/admin{path}", self.url))
            .bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.unwrap()
    }

    /// Reads a whole SSE response: (content received, data payloads).
    pub async fn sse(resp: reqwest::Response) -> (String, Vec<Value>, bool) {
        let text = resp.text().await.unwrap();
        let mut content = String::new();
        let mut events = Vec::new();
        let mut done = false;
        for line in text.lines() {
            let Some(data) = line.strip_prefix("data: ") else {
                continue;
            };
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let v: Value = serde_json::from_str(data).unwrap();
            if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                content.push_str(c);
            }
            events.push(v);
        }
        (content, events, done)
    }

    /// Every audit record, oldest first.
    pub async fn audit(&self) -> Vec<hegui_audit::AuditRecord> {
        self.gw.store.audit_range(0, 100_000).await.unwrap()
    }
}
