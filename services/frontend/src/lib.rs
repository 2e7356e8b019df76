//! numbers-frontend: the numbers web app (one HTML page, one stylesheet, one script, no build
//! step) and the tiny server that serves it.
//!
//! The assets are compiled into the binary. At start-up [`Site::embedded`] names the stylesheet,
//! script and icon after a hash of their content, rewrites the page to point at those names and
//! compresses every asset once (brotli and gzip), so a request costs a table lookup. Hashed assets
//! are cached forever (`immutable`); the page itself is revalidated on every load (`no-cache` +
//! `ETag`). This module must not know anything about the API: the page calls `/api/...` on its
//! own origin, which the proxy routes.

pub mod assets;
pub mod config;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tokio::net::TcpListener;

pub use assets::{Asset, Encoding, Site};
pub use config::Config;

/// `Content-Security-Policy` of every response: only same-origin scripts, styles and requests.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                       base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The server: every route answers from the prebuilt [`Site`].
pub fn app(site: Arc<Site>) -> Router {
    Router::new().fallback(serve_path).with_state(site)
}

async fn serve_path(State(site): State<Arc<Site>>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let path = req.uri().path();
    if path == "/healthz" {
        let mut res = plain(StatusCode::OK, "ok\n");
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return res;
    }
    let Some(asset) = site.get(path) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let encoding = Encoding::negotiate(req.headers());
    asset_response(asset, encoding, req.headers(), req.method() == Method::HEAD)
}

fn asset_response(asset: &Asset, wanted: Encoding, req: &HeaderMap, head: bool) -> Response {
    let variant = asset.variant(wanted);
    let not_modified = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| etag_matches(tags, variant.etag.to_str().unwrap_or_default()));
    let mut res = if not_modified {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if head {
        let mut r = Response::new(Body::empty());
        r.headers_mut().insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(variant.body.len()),
        );
        r
    } else {
        Response::new(Body::from(variant.body.clone()))
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, asset.content_type.clone());
    h.insert(header::CACHE_CONTROL, asset.cache_control.clone());
    h.insert(header::ETAG, variant.etag.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(enc) = variant.encoding.header_value() {
        h.insert(header::CONTENT_ENCODING, enc);
    }
    security_headers(h);
    res
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, `*` matches).
fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut res = Response::new(Body::from(text));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    security_headers(h);
    res
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Serve `app` on `listener` until `shutdown` resolves; open requests finish first.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing open requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_are_compared_weakly() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\", \"x\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
