//! Real parts for the proxy tests: echo upstreams (axum on loopback) that report what reached
//! them, the proxy served in-process on a free port, and a raw HTTP/1.1 client that sends
//! request targets byte for byte (no client-side normalisation).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use numbers_proxy::{Config, Proxy, Upstream};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An upstream that answers every request with a JSON description of what it received.
/// `GET /slow` answers after 2 s.
pub struct Echo {
    pub port: u16,
    hits: Arc<AtomicUsize>,
}

impl Echo {
    pub async fn start(name: &'static str) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let port = listener.local_addr().expect("addr").port();
        let app = Router::new()
            .fallback(echo)
            .with_state((name, hits.clone()));
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("echo serves");
        });
        Self { port, hits }
    }

    pub fn upstream(&self) -> Upstream {
        format!("http://127.0.0.1:{}", self.port)
            .parse()
            .expect("upstream URL")
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn echo(
    State((name, hits)): State<(&'static str, Arc<AtomicUsize>)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    if req.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut headers = serde_json::Map::new();
    for (k, v) in req.headers() {
        let entry = headers
            .entry(k.as_str().to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(v.to_str().unwrap_or("<binary>").to_owned()));
        }
    }
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    axum::Json(json!({
        "upstream": name,
        "method": method,
        "uri": uri,
        "headers": headers,
        "bodyLen": body,
        "peerPort": peer.port(),
    }))
    .into_response()
}

/// An upstream that accepts any `Upgrade` handshake (101) and then echoes bytes back.
pub async fn upgrade_echo() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                let upgrade = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("upgrade")
                            .then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default();
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: {upgrade}\r\n\r\n"
                );
                stream.write_all(answer.as_bytes()).await.ok();
                let mut buf = [0u8; 1024];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}").parse().expect("URL")
}

async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The proxy served in-process; stopped (gracefully) with [`RunningProxy::stop`].
pub struct RunningProxy {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningProxy {
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let proxy = Arc::new(Proxy::new(&config));
            numbers_proxy::serve(listener, proxy, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            port,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Begin the graceful shutdown; returns the serve task to await.
    pub fn stop(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().expect("stopped once")
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A proxy configuration for tests: the given upstreams, access log off, short timeouts.
pub fn config(api: Upstream, frontend: Upstream) -> Config {
    let mut c = Config::with_upstreams(api, frontend);
    c.access_log = false;
    c.connect_timeout = Duration::from_millis(500);
    c.upstream_timeout = Duration::from_secs(5);
    c.shutdown_grace = Duration::from_secs(5);
    c
}

/// An upstream address nothing listens on.
pub fn dead_upstream() -> Upstream {
    let port = ferry_testkit::free_port().expect("free port");
    format!("http://127.0.0.1:{port}").parse().expect("URL")
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {:?} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send `head` (request line and headers, without the blank line) plus `body` on a new
/// connection with `Connection: close`, and read the whole answer.
pub async fn send(port: u16, head: &str, body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to proxy");
    let mut request = head.replace('\n', "\r\n").into_bytes();
    request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("send request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut raw))
        .await
        .expect("answer within 15s")
        .expect("read answer");
    parse(&raw)
}

/// `GET path` with a Host header.
pub async fn get(port: u16, path: &str) -> Reply {
    send(
        port,
        &format!("GET {path} HTTP/1.1\nHost: numbers.test"),
        b"",
    )
    .await
}

pub fn parse(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16)
            .expect("chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
}
