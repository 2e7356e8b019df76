//! Shared test harness: a numbers API served in-process on a loopback port, over a real
//! database (a SQLite file in a temporary folder, or a fresh database on the PostgreSQL server
//! `cargo xtask test` started), and a few HTTP helpers.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use numbers_api::{AppState, app, db};
use serde_json::Value;

/// Which database backs a test app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running API and an HTTP client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub database_url: String,
    _dir: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("numbers.db").display()
                );
                Self::start_on(url, Some(dir)).await
            }
            Backend::Postgres => Self::start_on(ferry_testkit::shared_pg_database(), None).await,
        }
    }

    pub async fn start_on(database_url: String, dir: Option<tempfile::TempDir>) -> Self {
        let pool = db::connect(&database_url, 16)
            .await
            .expect("database connects");
        db::migrate(&database_url, &pool)
            .await
            .expect("migrations apply");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let router = app(AppState::new(pool, 16));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            // A fresh connection per request: after refusing a bad body the server closes its
            // connection, and a pooled client may race that close (IncompleteMessage, seen once
            // on a loaded machine).
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client"),
            database_url,
            _dir: dir,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("GET is answered");
        into_json(r).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST is answered");
        into_json(r).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self.client.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        into_json(req.send().await.expect("POST is answered")).await
    }

    pub async fn delete(&self, path: &str) -> u16 {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE is answered")
            .status()
            .as_u16()
    }

    /// Store `value` through the API and return the created number.
    pub async fn store(&self, value: i64) -> Value {
        let (status, body) = self
            .post_json("/v1/numbers", &serde_json::json!({ "value": value }))
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn count(&self) -> i64 {
        let (status, stats) = self.get("/v1/numbers/stats").await;
        assert_eq!(status, 200, "{stats}");
        stats["count"].as_i64().expect("count is an integer")
    }
}

pub async fn into_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body is readable");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// Generate one `#[tokio::test]` per backend for each `async fn name(app: TestApp)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::TestApp::start(super::common::Backend::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::TestApp::start(super::common::Backend::Postgres).await).await;
                }
            )*
        }
    };
}
