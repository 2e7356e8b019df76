//! The accept loop: HTTP/1.1 connections with a header size limit and a header read timeout,
//! upgrades allowed, and a graceful shutdown that stops accepting, lets open requests finish
//! (up to a grace period) and closes idle keep-alive connections.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::proxy::Proxy;

/// Serve `proxy` on `listener` until `shutdown` resolves, then drain (see the module docs).
pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.client_header_timeout)
        .max_buf_size(config.max_header_bytes as usize)
        .keep_alive(true);
    let (stop, _) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let proxy = proxy.clone();
                let service = service_fn(move |req| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.handle(peer, req).await) }
                });
                let conn = http.serve_connection(TokioIo::new(stream), service).with_upgrades();
                let mut stopping = stop.subscribe();
                tokio::spawn(async move {
                    tokio::pin!(conn);
                    let result = tokio::select! {
                        result = conn.as_mut() => result,
                        _ = stopping.changed() => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    };
                    if let Err(err) = result {
                        tracing::debug!(client = %peer, error = %err, "connection ended with an error");
                    }
                    drop(stopping);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let open = stop.receiver_count();
    tracing::info!(
        open_connections = open,
        "stopped accepting; draining open connections"
    );
    let _ = stop.send(());
    if tokio::time::timeout(config.shutdown_grace, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            left = stop.receiver_count(),
            grace = ?config.shutdown_grace,
            "connections still open after the grace period; exiting anyway"
        );
    }
    Ok(())
}
