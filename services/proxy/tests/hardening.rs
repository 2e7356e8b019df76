//! The proxy against real upstream servers on loopback: the routing table with its tricky
//! paths, forwarded headers, request ids, hop-by-hop headers, limits, timeouts, upstream
//! outages, keep-alive reuse, protocol upgrades and graceful shutdown.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Echo, RunningProxy, config, dead_upstream, get, send, upgrade_echo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn pair() -> (Echo, Echo, RunningProxy) {
    let api = Echo::start("api").await;
    let frontend = Echo::start("frontend").await;
    let proxy = RunningProxy::start(config(api.upstream(), frontend.upstream())).await;
    (api, frontend, proxy)
}

#[tokio::test]
async fn routing_table_strips_the_api_prefix_and_refuses_tricky_paths() {
    let (api, frontend, proxy) = pair().await;
    // (raw request target, expected upstream or status, path the upstream must see)
    let table: &[(&str, &str, &str)] = &[
        ("/", "frontend", "/"),
        ("/index.html", "frontend", "/index.html"),
        ("/assets/app.1234.js", "frontend", "/assets/app.1234.js"),
        ("/api", "api", "/"),
        ("/api/", "api", "/"),
        ("/api?limit=2", "api", "/?limit=2"),
        (
            "/api/v1/numbers?limit=5&cursor=bjE6MTA",
            "api",
            "/v1/numbers?limit=5&cursor=bjE6MTA",
        ),
        ("/api/values/all", "api", "/values/all"),
        ("/api/healthz", "api", "/healthz"),
        ("/apix", "frontend", "/apix"),
        ("/apix/v1/numbers", "frontend", "/apix/v1/numbers"),
        ("/api-docs", "frontend", "/api-docs"),
        ("/API/v1/numbers", "frontend", "/API/v1/numbers"),
        ("/static/api/v1", "frontend", "/static/api/v1"),
        ("/%61pi/v1/numbers", "api", "/v1/numbers"),
        ("//api//v1//numbers", "api", "/v1/numbers"),
        ("/api/v1/a%3Fb", "api", "/v1/a%3Fb"),
        ("/api/../secret", "400", ""),
        ("/api/./v1/numbers", "400", ""),
        ("/apix/../api/v1/numbers", "400", ""),
        ("/static/..%2fapi/v1", "400", ""),
        ("/api/%2e%2e/secret", "400", ""),
        ("/api/%2E%2e/%2e%2E/etc/passwd", "400", ""),
        ("/api%2f..%2fsecret", "400", ""),
        ("/api%2Fv1%2Fnumbers", "400", ""),
        ("/api/%5c..%5csecret", "400", ""),
        ("/api/%00", "400", ""),
        ("/api/%0d%0aX-Injected:%201", "400", ""),
        ("/api/%zz", "400", ""),
    ];
    let mut expected_api = 0;
    let mut expected_frontend = 0;
    for (target, want, path) in table {
        let reply = get(proxy.port, target).await;
        match *want {
            "400" => {
                assert_eq!(reply.status, 400, "{target}: {}", reply.text());
                assert_eq!(reply.json()["error"]["code"], "bad_request", "{target}");
            }
            upstream => {
                assert_eq!(reply.status, 200, "{target}: {}", reply.text());
                let seen = reply.json();
                assert_eq!(seen["upstream"], upstream, "{target}");
                assert_eq!(seen["uri"], *path, "{target}");
                if upstream == "api" {
                    expected_api += 1;
                } else {
                    expected_frontend += 1;
                }
            }
        }
    }
    // Refused targets reached no upstream at all.
    assert_eq!(api.hits(), expected_api);
    assert_eq!(frontend.hits(), expected_frontend);
}

#[tokio::test]
async fn absolute_form_targets_route_on_their_path_only() {
    let (_api, _frontend, proxy) = pair().await;
    let reply = send(
        proxy.port,
        "GET http://elsewhere.example/api/v1/numbers HTTP/1.1\nHost: numbers.test",
        b"",
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = reply.json();
    assert_eq!(seen["upstream"], "api");
    assert_eq!(seen["uri"], "/v1/numbers");
}

#[tokio::test]
async fn forwarded_headers_are_set_and_spoofed_ones_replaced() {
    let (_api, _frontend, proxy) = pair().await;
    let reply = send(
        proxy.port,
        "GET /api/v1/numbers HTTP/1.1\nHost: numbers.test\nX-Forwarded-For: 6.6.6.6\n\
         X-Forwarded-Proto: https\nX-Forwarded-Host: evil.example",
        b"",
    )
    .await;
    let h = &reply.json()["headers"];
    assert_eq!(h["x-forwarded-for"][0], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"][0], "http");
    assert_eq!(h["x-forwarded-host"][0], "numbers.test");
    assert_eq!(h["x-forwarded-for"].as_array().map(Vec::len), Some(1));
    // The upstream sees its own authority as Host, like nginx's default `proxy_set_header Host`.
    let host = h["host"][0].as_str().unwrap_or_default();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
}

#[tokio::test]
async fn forwarded_headers_from_a_trusted_load_balancer_are_appended() {
    let api = Echo::start("api").await;
    let frontend = Echo::start("frontend").await;
    let mut c = config(api.upstream(), frontend.upstream());
    c.trust_forwarded_headers = true;
    let proxy = RunningProxy::start(c).await;
    let reply = send(
        proxy.port,
        "GET /api/x HTTP/1.1\nHost: internal:8000\nX-Forwarded-For: 203.0.113.9\n\
         X-Forwarded-Proto: https\nX-Forwarded-Host: numbers.example",
        b"",
    )
    .await;
    let h = &reply.json()["headers"];
    assert_eq!(h["x-forwarded-for"][0], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"][0], "https");
    assert_eq!(h["x-forwarded-host"][0], "numbers.example");
}

#[tokio::test]
async fn request_ids_are_passed_through_or_generated_and_returned() {
    let (_api, _frontend, proxy) = pair().await;
    let reply = send(
        proxy.port,
        "GET /api/x HTTP/1.1\nHost: a\nX-Request-Id: trace-42",
        b"",
    )
    .await;
    assert_eq!(reply.header("x-request-id"), Some("trace-42"));
    assert_eq!(reply.json()["headers"]["x-request-id"][0], "trace-42");

    let a = get(proxy.port, "/x").await;
    let b = get(proxy.port, "/x").await;
    let id_a = a.header("x-request-id").expect("generated id").to_owned();
    assert_eq!(id_a.len(), 32);
    assert_eq!(a.json()["headers"]["x-request-id"][0], id_a.as_str());
    assert_ne!(Some(id_a.as_str()), b.header("x-request-id"));

    let bad = send(
        proxy.port,
        "GET /x HTTP/1.1\nHost: a\nX-Request-Id: <script>",
        b"",
    )
    .await;
    assert_ne!(bad.header("x-request-id"), Some("<script>"));
}

#[tokio::test]
async fn hop_by_hop_headers_do_not_reach_the_upstream() {
    let (_api, _frontend, proxy) = pair().await;
    let reply = send(
        proxy.port,
        "GET /api/x HTTP/1.1\nHost: a\nKeep-Alive: timeout=5\nTE: trailers\n\
         Proxy-Authorization: Basic c2VjcmV0\nX-Hop: 1\nConnection: x-hop\nX-Kept: yes",
        b"",
    )
    .await;
    let h = &reply.json()["headers"];
    for gone in [
        "keep-alive",
        "te",
        "proxy-authorization",
        "x-hop",
        "upgrade",
    ] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded: {h}");
    }
    assert_eq!(h["x-kept"][0], "yes");
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let api = Echo::start("api").await;
    let proxy = RunningProxy::start(config(api.upstream(), dead_upstream())).await;
    for path in ["/api/x", "/healthz", "/", "/api/%2e%2e/"] {
        let reply = get(proxy.port, path).await;
        let csp = reply.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            reply.header("referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{path}");
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413_before_reaching_the_upstream() {
    let api = Echo::start("api").await;
    let frontend = Echo::start("frontend").await;
    let mut c = config(api.upstream(), frontend.upstream());
    c.max_body_bytes = 1000;
    let proxy = RunningProxy::start(c).await;

    let ok = send(
        proxy.port,
        "POST /api/v1/numbers HTTP/1.1\nHost: a\nContent-Type: application/json\nContent-Length: 1000",
        &[b'x'; 1000],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["bodyLen"], 1000);
    assert_eq!(ok.json()["method"], "POST");

    let declared = send(
        proxy.port,
        "POST /api/v1/numbers HTTP/1.1\nHost: a\nContent-Length: 1001",
        &[b'x'; 1001],
    )
    .await;
    assert_eq!(declared.status, 413);
    assert_eq!(declared.json()["error"]["code"], "body_too_large");

    let mut chunked = Vec::new();
    for _ in 0..3 {
        chunked.extend_from_slice(b"190\r\n");
        chunked.extend_from_slice(&[b'y'; 400]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let streamed = send(
        proxy.port,
        "POST /api/v1/numbers HTTP/1.1\nHost: a\nTransfer-Encoding: chunked",
        &chunked,
    )
    .await;
    assert_eq!(streamed.status, 413);

    let small_chunked = send(
        proxy.port,
        "POST /api/v1/numbers HTTP/1.1\nHost: a\nTransfer-Encoding: chunked",
        b"5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(small_chunked.status, 200);
    assert_eq!(small_chunked.json()["bodyLen"], 5);

    assert_eq!(api.hits(), 2, "refused bodies must not reach the API");
}

#[tokio::test]
async fn request_heads_over_the_limit_are_refused_with_431() {
    let (api, _frontend, proxy) = pair().await;
    let huge = "a".repeat(20 * 1024);
    let reply = send(
        proxy.port,
        &format!("GET /api/x HTTP/1.1\nHost: a\nX-Big: {huge}"),
        b"",
    )
    .await;
    assert_eq!(reply.status, 431);
    assert_eq!(api.hits(), 0);
}

#[tokio::test]
async fn a_down_upstream_gives_502_json_for_the_api_and_html_for_pages() {
    let proxy = RunningProxy::start(config(dead_upstream(), dead_upstream())).await;
    let started = Instant::now();
    let api = get(proxy.port, "/api/v1/numbers").await;
    assert_eq!(api.status, 502);
    assert_eq!(api.header("content-type"), Some("application/json"));
    assert_eq!(api.json()["error"]["code"], "upstream_unavailable");
    let page = get(proxy.port, "/").await;
    assert_eq!(page.status, 502);
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    assert!(page.text().contains("Bad Gateway"), "{}", page.text());
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_slow_upstream_gives_504_after_the_timeout() {
    let api = Echo::start("api").await;
    let mut c = config(api.upstream(), dead_upstream());
    c.upstream_timeout = Duration::from_millis(300);
    let proxy = RunningProxy::start(c).await;
    let started = Instant::now();
    let reply = get(proxy.port, "/api/slow").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 504);
    assert_eq!(reply.json()["error"]["code"], "upstream_timeout");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    // A fast request on the same upstream still works.
    assert_eq!(get(proxy.port, "/api/fast").await.status, 200);
}

#[tokio::test]
async fn an_upstream_that_never_accepts_gives_502_after_the_connect_timeout() {
    // A loopback listener whose accept queue is full: further SYNs are dropped, so a connect
    // hangs until the proxy's connect timeout ends it.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let _listener = socket.listen(1).expect("listen");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let api = Echo::start("api").await;
    let mut c = config(api.upstream(), api.upstream());
    c.api_upstream = format!("http://{addr}").parse().expect("URL");
    c.connect_timeout = Duration::from_millis(300);
    let proxy = RunningProxy::start(c).await;
    let started = Instant::now();
    let reply = get(proxy.port, "/api/x").await;
    let took = started.elapsed();
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let (_api, _frontend, proxy) = pair().await;
    let mut ports = BTreeSet::new();
    for _ in 0..20 {
        let reply = get(proxy.port, "/api/v1/numbers").await;
        ports.insert(reply.json()["peerPort"].as_u64().expect("port"));
    }
    assert_eq!(
        ports.len(),
        1,
        "20 sequential requests should share one pooled connection, used {ports:?}"
    );
}

#[tokio::test]
async fn the_proxy_answers_its_own_healthz_even_when_upstreams_are_down() {
    let proxy = RunningProxy::start(config(dead_upstream(), dead_upstream())).await;
    let reply = get(proxy.port, "/healthz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ok");
}

#[tokio::test]
async fn websocket_upgrades_are_passed_through_both_ways() {
    let upstream = upgrade_echo().await;
    let proxy = RunningProxy::start(config(upstream, dead_upstream())).await;
    let mut stream = TcpStream::connect(("127.0.0.1", proxy.port))
        .await
        .expect("connect");
    stream
        .write_all(
            b"GET /api/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .expect("handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("handshake answer in time")
            .expect("read");
        assert_eq!(
            n,
            1,
            "closed during the handshake: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for message in [&b"ping"[..], b"second frame", &[0u8, 255, 10, 13]] {
        stream.write_all(message).await.expect("write");
        let mut back = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
            .await
            .expect("echo in time")
            .expect("read echo");
        assert_eq!(back, message);
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_after_the_header_timeout() {
    let api = Echo::start("api").await;
    let mut c = config(api.upstream(), api.upstream());
    c.client_header_timeout = Duration::from_millis(300);
    let proxy = RunningProxy::start(c).await;
    let mut stream = TcpStream::connect(("127.0.0.1", proxy.port))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: a\r\n")
        .await
        .expect("partial head");
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the proxy kept a slow client's connection open"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(api.hits(), 0);
}

#[tokio::test]
async fn graceful_shutdown_finishes_open_requests_and_stops_accepting() {
    let (_api, _frontend, mut proxy) = pair().await;
    let port = proxy.port;
    let slow = tokio::spawn(async move { get(port, "/api/slow").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let serving = proxy.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "new connections must be refused once shutdown began"
    );
    let reply = slow.await.expect("slow request task");
    assert_eq!(
        reply.status,
        200,
        "the open request was cut: {}",
        reply.text()
    );
    let done = tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("serve returns after draining");
    assert!(matches!(done, Ok(Ok(()))));
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_replaced_not_reported() {
    // An upstream that answers one request per connection (keep-alive promised) and then
    // closes the connection shortly after, as servers with short idle timeouts do.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            });
        }
    });
    let upstream = format!("http://127.0.0.1:{port}").parse().expect("URL");
    let proxy = RunningProxy::start(config(upstream, dead_upstream())).await;
    for round in 0..5 {
        let reply = get(proxy.port, "/api/x").await;
        assert_eq!(reply.status, 200, "round {round}: {}", reply.text());
        assert_eq!(reply.text(), "ok");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// An upstream whose `GET /stall` sends its headers and 10 bytes of a 100-byte body, then
/// nothing (it reports when the proxy closes that connection), and whose `GET /trickle` sends
/// a 40-byte body in four pieces 200 ms apart.
async fn stalling_upstream() -> (u16, tokio::sync::mpsc::UnboundedReceiver<Instant>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (closed, closes) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let closed = closed.clone();
            tokio::spawn(async move {
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    if head.starts_with(b"GET /stall ") {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                            .await;
                        // Hold the connection until the proxy gives up on it.
                        let mut rest = [0u8; 64];
                        while stream.read(&mut rest).await.unwrap_or(0) > 0 {}
                        let _ = closed.send(Instant::now());
                        return;
                    }
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
                        .await;
                    for piece in 0..4 {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let _ = stream
                            .write_all(format!("piece {piece}...").as_bytes())
                            .await;
                    }
                }
            });
        }
    });
    (port, closes)
}

#[tokio::test]
async fn a_response_body_that_stalls_is_cut_off_after_the_body_timeout() {
    let (port, mut closes) = stalling_upstream().await;
    let upstream = format!("http://127.0.0.1:{port}").parse().expect("URL");
    let mut c = config(upstream, dead_upstream());
    c.upstream_body_timeout = Duration::from_millis(500);
    let proxy = RunningProxy::start(c).await;

    // A body that keeps coming, if slowly (800 ms in all, never 500 ms without a byte), is
    // passed on whole: the timeout is for silence, not for the whole body.
    let reply = get(proxy.port, "/api/trickle").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "piece 0...piece 1...piece 2...piece 3...");

    // A body that stops: the client gets the head and what came, then the connection ends.
    let started = Instant::now();
    let mut client = TcpStream::connect(("127.0.0.1", proxy.port))
        .await
        .expect("connect");
    client
        .write_all(b"GET /api/stall HTTP/1.1\r\nHost: numbers.test\r\n\r\n")
        .await
        .expect("send");
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        // A reset counts as an end as much as a clean close does.
        while let Ok(n @ 1..) = client.read(&mut buf).await {
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let took = started.elapsed();
    assert!(ended.is_ok(), "the stalled response was never cut off");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("\r\n\r\n0123456789"), "{text}");

    // And the upstream connection is closed, not parked in the pool.
    let closed_at = tokio::time::timeout(Duration::from_secs(5), closes.recv())
        .await
        .expect("the proxy closed the stalled upstream connection")
        .expect("close reported");
    assert!(closed_at.duration_since(started) < Duration::from_secs(3));

    // The upstream still serves through the proxy on a new connection.
    assert_eq!(get(proxy.port, "/api/trickle").await.status, 200);
}
