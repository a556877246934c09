//! The accept loop: HTTP/1.1 connections served by hyper with a header read
//! timeout, the limits of [`HttpLimits`] (connection cap, concurrency
//! limit, request and body-read timeouts, see [`crate::limits`]), and a
//! graceful shutdown that never waits for a client that has not sent a
//! request.
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
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::serve::Listener;
use axum::Router;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::{TokioIo, TokioTimer};
use pin_project_lite::pin_project;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use crate::error::error_response;
use crate::limits::{HttpLimits, MAX_CONCURRENCY};
use crate::metrics::Refusals;
use crate::refusal::{
    body_timeout_response, refuse_connection, request_timeout_response, DeadlineBody,
};

/// What one listener enforces.
pub(crate) struct Settings {
    /// Time a client has to send a request head (also the keep-alive idle
    /// timeout).
    pub header_timeout: Option<Duration>,
    /// Timeouts and caps.
    pub limits: HttpLimits,
    /// Paths never refused by the concurrency limit: the health and
    /// metrics endpoints, which must answer when the application is busy.
    pub exempt: Vec<String>,
    /// Where refusals and timeouts are counted.
    pub refusals: Arc<Refusals>,
}

/// The state the connections of one listener share.
struct Shared {
    settings: Settings,
    /// Requests inside the application.
    concurrency: Arc<Semaphore>,
}

/// Serves `router` on `listener` until `shutdown`, then finishes the
/// requests in flight, within `settings`.
pub(crate) async fn serve(
    mut listener: TcpListener,
    router: Router,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    let builder = Arc::new(builder);
    let open = Arc::new(Semaphore::new(settings.limits.max_connections));
    let shared = Arc::new(Shared {
        concurrency: Arc::new(Semaphore::new(settings.limits.max_concurrency)),
        settings,
    });
    let connections = TaskTracker::new();
    loop {
        // `Listener::accept` retries transient accept errors itself.
        let (tcp, _) = tokio::select! {
            conn = Listener::accept(&mut listener) => conn,
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refuse_connection(
                &tcp,
                &shared.settings.refusals,
                shared.settings.limits.max_connections,
            );
            continue;
        };
        let _ = tcp.set_nodelay(true);
        connections.spawn(serve_connection(
            tcp,
            permit,
            router.clone(),
            builder.clone(),
            shared.clone(),
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
    _open: OwnedSemaphorePermit,
    router: Router,
    builder: Arc<hyper::server::conn::http1::Builder>,
    shared: Arc<Shared>,
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
        shared,
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

/// The per-connection hyper service: the router, counted, within the
/// listener's limits.
struct ConnService {
    router: Router,
    state: Arc<ConnState>,
    shared: Arc<Shared>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::new(&self.state);
        let settings = &self.shared.settings;
        let exempt = settings.exempt.iter().any(|p| p == req.uri().path());
        let permit = if exempt {
            None
        } else {
            match self.shared.concurrency.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    if settings.refusals.refuse_request() {
                        tracing::warn!(
                            limit = settings.limits.max_concurrency,
                            "http request refused with 503: {} requests are in the application ({}); one WARN every 10 s while it lasts",
                            settings.limits.max_concurrency,
                            MAX_CONCURRENCY.name,
                        );
                    }
                    let mut res = error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "the worker is serving {} requests already ({})",
                            settings.limits.max_concurrency, MAX_CONCURRENCY.name
                        ),
                    );
                    res.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return ResponseFuture::ready(res, in_flight);
                }
            }
        };
        // Only a request with a body to read gets the deadline (and its
        // flag): a GET costs no allocation for it.
        let (req, body_late) = match settings.limits.body_timeout {
            Some(limit) if !hyper::body::Body::is_end_stream(req.body()) => {
                let late = Arc::new(AtomicBool::new(false));
                let flag = late.clone();
                let req = req.map(|inner| Body::new(DeadlineBody::new(inner, limit, flag)));
                (req, Some(late))
            }
            _ => (req.map(Body::new), None),
        };
        // `Router` is always ready and cheap to clone (one `Arc`).
        let inner = self.router.clone().call(req);
        ResponseFuture {
            state: State::Routed { inner },
            deadline: settings
                .limits
                .request_timeout
                .map(|d| (Instant::now() + d, d)),
            sleep: None,
            body_late,
            refusals: Some(settings.refusals.clone()),
            body_timeout: settings.limits.body_timeout,
            in_flight: Some(in_flight),
            permit,
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Routed { #[pin] inner: axum::routing::future::RouteFuture<Infallible> },
        Ready { res: Option<Response> },
    }
}

pin_project! {
    /// The router's response, with its body counted until dropped; a `503`
    /// if it takes longer than the request timeout, a `408` if the request
    /// body came too late.
    struct ResponseFuture {
        #[pin]
        state: State,
        deadline: Option<(Instant, Duration)>,
        sleep: Option<Pin<Box<Sleep>>>,
        body_late: Option<Arc<AtomicBool>>,
        refusals: Option<Arc<Refusals>>,
        body_timeout: Option<Duration>,
        in_flight: Option<InFlight>,
        permit: Option<OwnedSemaphorePermit>,
    }
}

impl ResponseFuture {
    fn ready(res: Response, in_flight: InFlight) -> Self {
        ResponseFuture {
            state: State::Ready { res: Some(res) },
            deadline: None,
            sleep: None,
            body_late: None,
            refusals: None,
            body_timeout: None,
            in_flight: Some(in_flight),
            permit: None,
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<TrackedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = match this.state.project() {
            StateProj::Ready { res } => res.take().expect("polled after completion"),
            StateProj::Routed { inner } => match inner.poll(cx) {
                Poll::Ready(Ok(res)) => match this.body_late.as_ref() {
                    Some(late) if late.load(Ordering::Acquire) => {
                        body_timeout_response(*this.body_timeout, this.refusals.as_deref())
                    }
                    _ => res,
                },
                Poll::Ready(Err(e)) => match e {},
                Poll::Pending => {
                    let Some((at, limit)) = *this.deadline else {
                        return Poll::Pending;
                    };
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                    ready!(sleep.as_mut().poll(cx));
                    request_timeout_response(limit, this.refusals.as_deref())
                }
            },
        };
        let in_flight = this.in_flight.take();
        let permit = this.permit.take();
        Poll::Ready(Ok(res.map(|inner| TrackedBody {
            inner,
            _in_flight: in_flight,
            _permit: permit,
        })))
    }
}

pin_project! {
    /// A response body that keeps its request counted until dropped.
    struct TrackedBody {
        #[pin]
        inner: Body,
        _in_flight: Option<InFlight>,
        _permit: Option<OwnedSemaphorePermit>,
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
