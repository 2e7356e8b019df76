//! The accept loop: HTTP/1.1 connections with a header size limit and a header read timeout,
//! upgrades allowed, and a graceful shutdown that stops accepting, lets open requests finish
//! (up to a grace period) and closes idle keep-alive connections.
//!
//! [`run_workers`] is the binary's shape: one listening socket, bound without SO_REUSEPORT (a
//! port already served fails with "address in use" instead of being shared with a stale
//! server), accepted on the main thread, and each connection handed to the worker thread that
//! has the fewest open connections. A worker owns its connections, event loop and upstream pool.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

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
    serve_from(Source::Listener(listener), proxy, config, shutdown).await
}

/// Where a server's connections come from.
enum Source {
    /// Accepted here.
    Listener(TcpListener),
    /// Accepted by [`run_workers`]'s acceptor and handed over with the worker's load count.
    Handoff(mpsc::UnboundedReceiver<Handoff>),
}

/// An accepted connection on its way to a worker; `load` counts it until it closes.
struct Handoff {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    load: Load,
}

/// One open connection of a worker: the worker's count goes down when it is dropped.
struct Load(Arc<AtomicUsize>);

impl Load {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Source {
    /// The next connection; `None` once no more can come.
    async fn next(&mut self) -> Option<(TcpStream, SocketAddr, Option<Load>)> {
        match self {
            Self::Listener(listener) => loop {
                match listener.accept().await {
                    Ok((stream, peer)) => return Some((stream, peer, None)),
                    Err(err) => accept_failed(&err).await,
                }
            },
            Self::Handoff(incoming) => loop {
                let Handoff { stream, peer, load } = incoming.recv().await?;
                match TcpStream::from_std(stream) {
                    Ok(stream) => return Some((stream, peer, Some(load))),
                    Err(err) => {
                        tracing::warn!(client = %peer, error = %err, "cannot take over a connection")
                    }
                }
            },
        }
    }
}

/// Out of file descriptors and the like: log, and back off instead of spinning.
async fn accept_failed(err: &std::io::Error) {
    tracing::warn!(error = %err, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn serve_from(
    mut source: Source,
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
            next = source.next() => {
                let Some((stream, peer, load)) = next else { break };
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
                    drop(load);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(source);
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
/// drain every worker. The calling thread binds the address (see the module docs), accepts,
/// and hands each connection to the worker with the fewest open connections; each worker has
/// its own single-threaded runtime and upstream pool, so a request never changes threads.
/// Returns once all workers stopped.
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
    let listener = bind(config.listen_addr)?;
    on_listening(listener.local_addr()?);
    let (stop, stopped) = watch::channel(false);
    let mut threads = Vec::with_capacity(workers);
    let mut handoffs = Vec::with_capacity(workers);
    for i in 0..workers.max(1) {
        let (handoff, incoming) = mpsc::unbounded_channel::<Handoff>();
        let load = Arc::new(AtomicUsize::new(0));
        handoffs.push((handoff, load));
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
                    let proxy = Arc::new(Proxy::new(&config));
                    serve_from(Source::Handoff(incoming), proxy, &config, async move {
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
    let acceptor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    acceptor.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        tokio::pin!(shutdown);
        let mut next = 0;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(pair) => pair,
                        Err(err) => {
                            accept_failed(&err).await;
                            continue;
                        }
                    };
                    let chosen = pick_worker(handoffs.len(), next, |i| {
                        handoffs[i].1.load(Ordering::Relaxed)
                    });
                    next = (chosen + 1) % handoffs.len();
                    let (handoff, load) = &handoffs[chosen];
                    match stream.into_std() {
                        Ok(stream) => {
                            let load = Load::new(load);
                            let _ = handoff.send(Handoff { stream, peer, load });
                        }
                        Err(err) => tracing::warn!(client = %peer, error = %err, "cannot hand over a connection"),
                    }
                }
                () = &mut shutdown => break,
            }
        }
        Ok::<_, std::io::Error>(())
    })?;
    let _ = stop.send(true);
    drop(handoffs);
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

/// The worker for a new connection: the one with the fewest open connections (`load`), and
/// among equals the first from `next` on, so that a burst of connections is dealt out in turn.
fn pick_worker(workers: usize, next: usize, load: impl Fn(usize) -> usize) -> usize {
    (0..workers)
        .map(|k| (next + k) % workers)
        .min_by_key(|&i| load(i))
        .unwrap_or(0)
}

/// The non-blocking listening socket on `addr` (port 0: a free port). SO_REUSEADDR (a restart
/// need not wait for old connections in TIME_WAIT) but not SO_REUSEPORT: binding fails with
/// "address in use" whenever something listens there already.
fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "cannot listen on {addr}: the address is already in use (is another numbers-proxy \
                 or another server still running on this port?)"
            )
        } else {
            anyhow::anyhow!("cannot listen on {addr}: {e}")
        }
    })?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_least_loaded_worker_in_turn() {
        let mut loads = [0usize; 3];
        let mut next = 0;
        let mut order = Vec::new();
        for _ in 0..7 {
            let i = pick_worker(loads.len(), next, |i| loads[i]);
            loads[i] += 1;
            next = (i + 1) % loads.len();
            order.push(i);
        }
        assert_eq!(order, [0, 1, 2, 0, 1, 2, 0]);
        // Worker 1's connections closed: the next ones go there until it catches up.
        loads = [5, 1, 5];
        assert_eq!(pick_worker(3, 2, |i| loads[i]), 1);
        assert_eq!(pick_worker(1, 0, |_| 9), 0);
    }
}
