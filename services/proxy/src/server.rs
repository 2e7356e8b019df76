//! The accept loop: HTTP/1.1 connections with a header size limit and a header read timeout,
//! upgrades allowed, and a graceful shutdown that stops accepting, lets open requests finish
//! (up to a grace period) and closes idle keep-alive connections.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::access_log;
use crate::config::Config;
use crate::proxy::{Peer, Proxy};

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
                let client = Arc::new((proxy.clone(), Peer::new(peer)));
                let service = service_fn(move |req| {
                    let client = client.clone();
                    async move {
                        let (proxy, peer) = &*client;
                        Ok::<_, Infallible>(proxy.handle(peer, req).await)
                    }
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

/// Run the proxy on `config.workers` threads (0: one per core) until `shutdown` resolves, then
/// drain every worker. Each thread has its own single-threaded runtime, its own listening
/// socket on the same address (SO_REUSEPORT: the kernel spreads connections) and its own
/// upstream pool, so a request never changes threads. Returns once all workers stopped.
pub fn run_workers(
    config: &Config,
    shutdown: impl Future<Output = ()>,
    on_listening: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let workers = if config.workers == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        config.workers
    };
    let listeners = bind_reuseport(config.listen_addr, workers)?;
    on_listening(listeners[0].local_addr()?);
    let (stop, stopped) = watch::channel(false);
    let mut threads = Vec::with_capacity(workers);
    for (i, listener) in listeners.into_iter().enumerate() {
        let config = config.clone();
        let mut stopped = stopped.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-worker-{i}"))
            .spawn(move || -> anyhow::Result<()> {
                // Access-log lines are written when the event loop runs out of work (one
                // `write` per busy turn, not per request) and at least every 250 ms.
                access_log::buffer_this_thread();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .on_thread_park(access_log::flush)
                    .build()?;
                let served = runtime.block_on(async move {
                    // A short periodic timer keeps the timer wheel's next wake-up near: a
                    // request's timeouts (10 s, 30 s) are then never the earliest timer, and
                    // arming them does not have to wake the event loop through its eventfd.
                    let ticker = tokio::spawn(async {
                        let mut tick = tokio::time::interval(Duration::from_millis(250));
                        loop {
                            tick.tick().await;
                            access_log::flush();
                        }
                    });
                    let listener = TcpListener::from_std(listener)?;
                    let proxy = Arc::new(Proxy::new(&config));
                    serve(listener, proxy, &config, async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await?;
                    ticker.abort();
                    Ok(())
                });
                access_log::flush();
                served
            })?;
        threads.push(thread);
    }
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    signals.block_on(shutdown);
    let _ = stop.send(true);
    let mut failure = None;
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => failure = Some(err),
            Err(_) => failure = Some(anyhow::anyhow!("a worker thread panicked")),
        }
    }
    failure.map_or(Ok(()), Err)
}

/// `count` non-blocking listening sockets on one address (port 0: the port the first got).
///
/// SO_REUSEPORT lets a stale server of the same user share the port silently, so first a probe
/// socket without it binds the address: that fails with "address in use" whenever anything
/// listens there already, and only then are the workers' SO_REUSEPORT sockets bound.
fn bind_reuseport(addr: SocketAddr, count: usize) -> anyhow::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Socket, Type};
    let in_use = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "cannot listen on {addr}: the address is already in use (is another numbers-proxy \
                 or another server still running on this port?)"
            )
        } else {
            anyhow::anyhow!("cannot listen on {addr}: {e}")
        }
    };
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into()).map_err(in_use)?;
    let mut bound = probe
        .local_addr()?
        .as_socket()
        .ok_or_else(|| anyhow::anyhow!("{addr} is not an IP address"))?;
    drop(probe);
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(bound), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&bound.into()).map_err(in_use)?;
        socket.listen(1024)?;
        let listener: std::net::TcpListener = socket.into();
        bound = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}
