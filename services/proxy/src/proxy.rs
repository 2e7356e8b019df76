//! One request through the proxy: route it, enforce the limits, rewrite the headers, send it
//! over a pooled keep-alive connection, and turn upstream failures into small 502/504 answers.
//! WebSocket (any `Upgrade`) handshakes are passed through and the two sockets spliced.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

use crate::access_log::{self, Entry};
use crate::config::{Config, LogFormat, Upstream};
use crate::headers::{self, ClientInfo, X_REQUEST_ID};
use crate::pool::{Pool, PooledBody};
use crate::route::{self, Route};

/// Body of a request sent upstream: the client's, streamed, or buffered when it was chunked.
pub type UpstreamBody = Either<Incoming, Full<Bytes>>;
/// Body of a response to the client: the upstream's, streamed, or one the proxy made.
pub type ProxyBody = Either<PooledBody, Full<Bytes>>;

/// The proxy's state: upstreams, limits and the connection pool, shared by every connection.
#[derive(Debug, Clone)]
pub struct Proxy {
    api: Arc<Pool>,
    frontend: Arc<Pool>,
    api_host: HeaderValue,
    frontend_host: HeaderValue,
    upstream_timeout: Duration,
    max_body_bytes: u64,
    trust_forwarded: bool,
    access_log: Option<LogFormat>,
}

/// Which upstream a request went to (for logs and error bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Proxy,
    Api,
    Frontend,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::Api => "api",
            Self::Frontend => "frontend",
        }
    }
}

/// The client end of one connection: its address, and its IP as header text, made once per
/// connection and shared by the requests on it (`X-Forwarded-For`, the access log).
#[derive(Debug, Clone)]
pub struct Peer {
    /// The TCP peer address.
    pub addr: SocketAddr,
    /// `addr`'s IP as text.
    pub ip: HeaderValue,
}

impl Peer {
    /// The peer at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            ip: headers::ip_value(addr.ip()),
        }
    }
}

impl Proxy {
    /// A proxy with its keep-alive pool, configured from `config`.
    pub fn new(config: &Config) -> Self {
        let pool = |u: &Upstream| {
            Pool::new(
                u.authority.as_str().to_owned(),
                config.pool_max_idle,
                config.pool_idle_timeout,
                config.connect_timeout,
                config.upstream_body_timeout,
            )
        };
        let host = |u: &Upstream| {
            HeaderValue::from_str(u.authority.as_str()).expect("an authority is a valid header")
        };
        Self {
            api: pool(&config.api_upstream),
            frontend: pool(&config.frontend_upstream),
            api_host: host(&config.api_upstream),
            frontend_host: host(&config.frontend_upstream),
            upstream_timeout: config.upstream_timeout,
            max_body_bytes: config.max_body_bytes,
            trust_forwarded: config.trust_forwarded_headers,
            access_log: config.access_log.then_some(config.log_format),
        }
    }

    /// Answer one request from `peer`.
    pub async fn handle(&self, peer: &Peer, req: Request<Incoming>) -> Response<ProxyBody> {
        let started = Instant::now();
        let id = headers::request_id(req.headers());
        let logged = self
            .access_log
            .map(|format| (format, req.method().clone(), req.uri().clone()));
        let (mut res, target) = self.dispatch(peer, req, &id).await;
        let h = res.headers_mut();
        h.insert(&X_REQUEST_ID, id.clone());
        headers::add_security_headers(h);
        if let Some((format, method, uri)) = logged {
            let entry = Entry {
                client: peer.ip.to_str().unwrap_or_default(),
                method: method.as_str(),
                uri: uri.path_and_query().map_or("", |p| p.as_str()),
                status: res.status().as_u16(),
                upstream: target.name(),
                elapsed: started.elapsed(),
                request_id: id.to_str().unwrap_or_default(),
            };
            access_log::write(&entry, format);
        }
        res
    }

    async fn dispatch(
        &self,
        peer: &Peer,
        mut req: Request<Incoming>,
        id: &HeaderValue,
    ) -> (Response<ProxyBody>, Target) {
        let (upstream, path, target) = match route::route(req.uri().path(), req.uri().query()) {
            Ok(Route::Health) => return (health(), Target::Proxy),
            Ok(Route::Api(path)) => ((&self.api, &self.api_host), path, Target::Api),
            Ok(Route::Frontend(path)) => (
                (&self.frontend, &self.frontend_host),
                path,
                Target::Frontend,
            ),
            Err(bad) => {
                let res = error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &bad.to_string(),
                    false,
                );
                return (res, Target::Proxy);
            }
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            return (self.too_large(), target);
        }
        let upgrade = headers::is_upgrade(req.headers());
        let client_side = upgrade.then(|| hyper::upgrade::on(&mut req));

        let (mut parts, body) = req.into_parts();
        let host = parts.headers.remove(header::HOST);
        headers::strip_hop_by_hop(&mut parts.headers, upgrade);
        let client = ClientInfo {
            ip: &peer.ip,
            trust_forwarded: self.trust_forwarded,
        };
        headers::set_forwarded(&mut parts.headers, client, host);
        parts.headers.insert(&X_REQUEST_ID, id.clone());
        parts.version = Version::HTTP_11;
        let (pool, upstream_host) = upstream;
        parts.headers.insert(header::HOST, upstream_host.clone());
        parts.uri = match Uri::try_from(path) {
            Ok(uri) => uri,
            Err(_) => {
                let res = error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "malformed request target",
                    false,
                );
                return (res, Target::Proxy);
            }
        };
        let body = if declared.is_none() && !body.is_end_stream() {
            // Chunked: read it (up to the limit) so an oversized body is a clean 413.
            match Limited::new(body, self.max_body_bytes as usize)
                .collect()
                .await
            {
                Ok(collected) => Either::Right(Full::new(collected.to_bytes())),
                Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                    return (self.too_large(), target);
                }
                Err(_) => {
                    let res = error(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        "the request body could not be read",
                        false,
                    );
                    return (res, target);
                }
            }
        } else {
            Either::Left(body)
        };

        let sent = pool.send(Request::from_parts(parts, body));
        let mut res = match tokio::time::timeout(self.upstream_timeout, sent).await {
            Ok(Ok(res)) => res,
            Ok(Err(err)) => {
                tracing::warn!(upstream = target.name(), error = %error_chain(&err), request_id = id.to_str().unwrap_or_default(), "upstream failed");
                let message = format!("the {} is unavailable", target.name());
                return (
                    error(
                        StatusCode::BAD_GATEWAY,
                        "upstream_unavailable",
                        &message,
                        target == Target::Frontend,
                    ),
                    target,
                );
            }
            Err(_) => {
                tracing::warn!(upstream = target.name(), timeout = ?self.upstream_timeout, request_id = id.to_str().unwrap_or_default(), "upstream timed out");
                let message = format!("the {} did not answer in time", target.name());
                return (
                    error(
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream_timeout",
                        &message,
                        target == Target::Frontend,
                    ),
                    target,
                );
            }
        };

        let switched = res.status() == StatusCode::SWITCHING_PROTOCOLS;
        if let (true, Some(client_side)) = (switched, client_side) {
            let upstream_side = hyper::upgrade::on(&mut res);
            tokio::spawn(async move {
                match tokio::try_join!(client_side, upstream_side) {
                    Ok((client_io, upstream_io)) => {
                        let mut a = TokioIo::new(client_io);
                        let mut b = TokioIo::new(upstream_io);
                        if let Err(err) = tokio::io::copy_bidirectional(&mut a, &mut b).await {
                            tracing::debug!(error = %err, "upgraded connection closed");
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "protocol upgrade failed"),
                }
            });
        }
        let (mut parts, body) = res.into_parts();
        headers::strip_hop_by_hop(&mut parts.headers, switched);
        (Response::from_parts(parts, Either::Left(body)), target)
    }

    fn too_large(&self) -> Response<ProxyBody> {
        let message = format!(
            "the request body is larger than {} bytes",
            self.max_body_bytes
        );
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            &message,
            false,
        )
    }
}

fn health() -> Response<ProxyBody> {
    let mut res = Response::new(Either::Right(Full::new(Bytes::from_static(
        b"{\"status\":\"ok\"}",
    ))));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A small error answer: the API's JSON error shape, or a short HTML page for browser routes.
fn error(status: StatusCode, code: &str, message: &str, html: bool) -> Response<ProxyBody> {
    let (body, content_type) = if html {
        let title = status.canonical_reason().unwrap_or("Error");
        (
            format!(
                "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{code} {title}</title>\
                 <h1>{title}</h1><p>{message}. Please try again in a moment.</p></html>\n",
                code = status.as_u16()
            ),
            "text/html; charset=utf-8",
        )
    } else {
        let json = serde_json::json!({ "error": { "code": code, "message": message } });
        (format!("{json}\n"), "application/json")
    };
    let mut res = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
