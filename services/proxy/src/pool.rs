//! Keep-alive HTTP/1.1 connections to one upstream, owned by one worker.
//!
//! A connection goes back to the idle list when the response body it carried has been read to
//! its end ([`PooledBody`]); a response cut short, or an upgraded connection, is never reused.
//! A response body that stalls (no byte for the body timeout) is aborted with
//! [`BodyError::Stalled`], which makes the server cut the client's response short, and its
//! upstream connection is dropped. A request that fails on a reused connection before it was written (the upstream closed an
//! idle connection at that moment) is retried once on a new connection. This is what
//! hyper-util's pooled client does, minus its per-request task and shared pool map, which cost
//! measurable throughput: here each worker owns its pools.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::proxy::UpstreamBody;

/// Why a request could not be exchanged with the upstream.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// No TCP connection within the connect timeout.
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    /// The TCP connection was refused or failed.
    #[error("cannot connect to {addr}")]
    Connect {
        /// The upstream address.
        addr: String,
        /// What the socket said.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed (connection reset, malformed answer...).
    #[error("HTTP exchange with {addr} failed")]
    Http {
        /// The upstream address.
        addr: String,
        /// What hyper said.
        #[source]
        source: hyper::Error,
    },
}

/// The idle connections to one upstream.
#[derive(Debug)]
pub struct Pool {
    addr: String,
    /// Idle connections with the time they became idle, oldest first.
    idle: Mutex<Vec<(SendRequest<UpstreamBody>, Instant)>>,
    max_idle: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
    body_timeout: Duration,
}

/// Why an upstream response body ended before its end.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection failed while the body was read.
    #[error("reading the upstream's response body failed")]
    Upstream(#[from] hyper::Error),
    /// No byte of the body came for the body timeout.
    #[error("the upstream's response body stalled for {0:?}")]
    Stalled(Duration),
}

impl Pool {
    /// An empty pool for `addr` (`host:port`) keeping at most `max_idle` connections for at
    /// most `idle_timeout` each; a response body that sends nothing for `body_timeout` is
    /// aborted.
    pub fn new(
        addr: String,
        max_idle: usize,
        idle_timeout: Duration,
        connect_timeout: Duration,
        body_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            addr,
            idle: Mutex::new(Vec::new()),
            max_idle,
            idle_timeout,
            connect_timeout,
            body_timeout,
        })
    }

    /// How many idle connections the pool holds.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Send `req` (origin-form target, `Host` set) and return the response head; its body
    /// returns the connection to the pool once read to the end.
    pub async fn send(
        self: &Arc<Self>,
        req: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, PoolError> {
        let mut req = req;
        while let Some(mut sender) = self.checkout_idle().await {
            match sender.try_send_request(req).await {
                Ok(res) => return Ok(self.wrap(res, sender)),
                Err(mut failed) => match failed.take_message() {
                    // Not written: the idle connection had closed. Try the next one.
                    Some(unsent) => req = unsent,
                    None => {
                        return Err(PoolError::Http {
                            addr: self.addr.clone(),
                            source: failed.into_error(),
                        });
                    }
                },
            }
        }
        let mut sender = self.connect().await?;
        match sender.send_request(req).await {
            Ok(res) => Ok(self.wrap(res, sender)),
            Err(source) => Err(PoolError::Http {
                addr: self.addr.clone(),
                source,
            }),
        }
    }

    /// The most recently used idle connection that is still usable.
    async fn checkout_idle(&self) -> Option<SendRequest<UpstreamBody>> {
        loop {
            let (mut sender, since) = {
                let mut idle = self.idle.lock().ok()?;
                let newest = idle.pop()?;
                if newest.1.elapsed() > self.idle_timeout {
                    // The newest is too old, so are all the others.
                    idle.clear();
                    return None;
                }
                newest
            };
            if sender.is_closed() || since.elapsed() > self.idle_timeout {
                continue;
            }
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<UpstreamBody>, PoolError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| PoolError::ConnectTimeout(self.addr.clone()))?
            .map_err(|source| PoolError::Connect {
                addr: self.addr.clone(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| PoolError::Http {
                addr: self.addr.clone(),
                source,
            })?;
        tokio::spawn(async move {
            if let Err(err) = conn.with_upgrades().await {
                tracing::debug!(error = %err, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    fn wrap(
        self: &Arc<Self>,
        res: Response<Incoming>,
        sender: SendRequest<UpstreamBody>,
    ) -> Response<PooledBody> {
        let upgraded = res.status() == http::StatusCode::SWITCHING_PROTOCOLS;
        let (parts, inner) = res.into_parts();
        let mut body = PooledBody {
            inner,
            lease: (!upgraded).then(|| (self.clone(), sender)),
            timeout: self.body_timeout,
            stall: None,
            progressed: false,
        };
        if body.inner.is_end_stream() {
            body.release();
        }
        Response::from_parts(parts, body)
    }

    fn checkin(&self, sender: SendRequest<UpstreamBody>) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let now = Instant::now();
            while idle
                .first()
                .is_some_and(|(_, since)| now.duration_since(*since) > self.idle_timeout)
            {
                idle.remove(0);
            }
            if idle.len() < self.max_idle {
                idle.push((sender, now));
            }
        }
    }
}

/// An upstream response body that hands its connection back when fully read, and fails with
/// [`BodyError::Stalled`] when the upstream sends nothing for the body timeout.
#[derive(Debug)]
pub struct PooledBody {
    inner: Incoming,
    lease: Option<(Arc<Pool>, SendRequest<UpstreamBody>)>,
    timeout: Duration,
    /// Armed the first time the body has nothing to give (most small bodies never wait, so
    /// never pay for a timer), and pushed back after each frame.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether a frame came since `stall` was last (re)armed.
    progressed: bool,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some((pool, sender)) = self.lease.take() {
            pool.checkin(sender);
        }
    }

    /// The raw body (for protocol upgrades, which never return to the pool).
    pub fn into_inner(self) -> Incoming {
        self.inner
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.release();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.release();
                }
                this.progressed = true;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                // A broken body: the connection is in an unknown state, never reuse it.
                this.lease = None;
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let stall = match &mut this.stall {
                    Some(stall) => {
                        if this.progressed {
                            let deadline = tokio::time::Instant::now() + timeout;
                            stall.as_mut().reset(deadline);
                        }
                        stall
                    }
                    None => this.stall.insert(Box::pin(tokio::time::sleep(timeout))),
                };
                this.progressed = false;
                if stall.as_mut().poll(cx).is_ready() {
                    // Dropping the lease drops the connection: hyper closes it.
                    if let Some((pool, _)) = this.lease.take() {
                        tracing::warn!(upstream = %pool.addr, ?timeout, "upstream response body stalled; aborting the response");
                    }
                    return Poll::Ready(Some(Err(BodyError::Stalled(timeout))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
