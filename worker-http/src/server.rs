//! The accept loop: HTTP/1.1 connections served by hyper with a header read
//! timeout, and a graceful shutdown that never waits for a client that has
//! not sent a request.
//!
//! Each connection carries a [`ConnState`]: how many requests it has inside
//! the application (from the call of the router until the response body is
//! dropped, i.e. fully written or abandoned) and whether its last write was
//! refused by the socket. At shutdown every connection is asked to finish
//! (hyper closes idle keep-alive connections at once and others after their
//! current response); a connection with no request inside and no write
//! pending (a client that sent half a request head and stalled) is closed
//! instead of being waited for, since nothing was accepted from it yet.
//! Connections with a request in flight are waited for; the runtime bounds
//! that wait by `WORKER_SHUTDOWN_TIMEOUT`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::serve::Listener;
use axum::Router;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::{TokioIo, TokioTimer};
use pin_project_lite::pin_project;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

/// Serves `router` on `listener` until `shutdown`, then finishes the
/// requests in flight. `header_timeout` bounds the time a client has to send
/// a request head (which also closes keep-alive connections idle that long).
pub(crate) async fn serve(
    mut listener: TcpListener,
    router: Router,
    header_timeout: Option<Duration>,
    shutdown: CancellationToken,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let builder = Arc::new(builder);
    let connections = TaskTracker::new();
    loop {
        // `Listener::accept` retries transient accept errors itself.
        let (tcp, _) = tokio::select! {
            conn = Listener::accept(&mut listener) => conn,
            () = shutdown.cancelled() => break,
        };
        let _ = tcp.set_nodelay(true);
        connections.spawn(serve_connection(
            tcp,
            router.clone(),
            builder.clone(),
            shutdown.clone(),
        ));
    }
    drop(listener);
    connections.close();
    tracing::debug!(
        connections = connections.len(),
        "http server stopped accepting; finishing requests in flight"
    );
    connections.wait().await;
}

async fn serve_connection(
    tcp: TcpStream,
    router: Router,
    builder: Arc<hyper::server::conn::http1::Builder>,
    shutdown: CancellationToken,
) {
    let state = Arc::new(ConnState::default());
    let io = TrackedIo {
        inner: TokioIo::new(tcp),
        state: state.clone(),
    };
    let service = ConnService {
        router,
        state: state.clone(),
    };
    let mut conn = std::pin::pin!(builder.serve_connection(io, service));
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
            return;
        }
        () = shutdown.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let served = std::future::poll_fn(|cx| match conn.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(r),
        // The state only changes while the connection is polled (hyper
        // calls the router and writes inline), so checking after each
        // poll is exact.
        Poll::Pending if state.quiescent() => Poll::Ready(Ok(())),
        Poll::Pending => Poll::Pending,
    })
    .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "http connection ended with an error during shutdown");
    }
}

/// What a connection is doing, as far as shutdown is concerned.
#[derive(Debug, Default)]
struct ConnState {
    /// Requests inside the application (call to response body dropped).
    requests: AtomicUsize,
    /// The last write or flush was refused by the socket.
    write_pending: AtomicBool,
}

impl ConnState {
    fn quiescent(&self) -> bool {
        self.requests.load(Ordering::Acquire) == 0 && !self.write_pending.load(Ordering::Acquire)
    }
}

/// Counts a request for as long as it lives.
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn new(state: &Arc<ConnState>) -> Self {
        state.requests.fetch_add(1, Ordering::AcqRel);
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The per-connection hyper service: the router, counted.
struct ConnService {
    router: Router,
    state: Arc<ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::new(&self.state);
        // `Router` is always ready and cheap to clone (one `Arc`).
        let inner = self.router.clone().call(req);
        ResponseFuture {
            inner,
            in_flight: Some(in_flight),
        }
    }
}

pin_project! {
    /// The router's response, with its body counted until dropped.
    struct ResponseFuture {
        #[pin]
        inner: axum::routing::future::RouteFuture<Infallible>,
        in_flight: Option<InFlight>,
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<TrackedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = match this.inner.poll(cx) {
            Poll::Ready(Ok(res)) => res,
            Poll::Ready(Err(e)) => match e {},
            Poll::Pending => return Poll::Pending,
        };
        let in_flight = this.in_flight.take();
        Poll::Ready(Ok(res.map(|inner| TrackedBody {
            inner,
            _in_flight: in_flight,
        })))
    }
}

pin_project! {
    /// A response body that keeps its request counted until dropped.
    struct TrackedBody {
        #[pin]
        inner: Body,
        _in_flight: Option<InFlight>,
    }
}

impl HttpBody for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The socket, recording whether the last write was refused.
    struct TrackedIo {
        #[pin]
        inner: TokioIo<TcpStream>,
        state: Arc<ConnState>,
    }
}

impl TrackedIo {
    fn record<T>(state: &ConnState, poll: Poll<T>) -> Poll<T> {
        state
            .write_pending
            .store(poll.is_pending(), Ordering::Release);
        poll
    }
}

impl Read for TrackedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl Write for TrackedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        Self::record(this.state, this.inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        Self::record(this.state, this.inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        Self::record(this.state, this.inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        Self::record(this.state, this.inner.poll_shutdown(cx))
    }
}
