//! What the HTTP server's limits answer (see [`crate::limits`]): the `503`
//! of a connection over the cap, written before any of its bytes are read;
//! the `503` of a request not answered in time; the `408` of a body that
//! did not arrive in time, and the request body that notices it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::error::error_response;
use crate::limits::{BODY_TIMEOUT, MAX_CONNECTIONS, REQUEST_TIMEOUT};
use crate::metrics::Refusals;

/// The answer to a connection over `WORKER_HTTP_MAX_CONNECTIONS`: a `503`
/// written without waiting (it fits any socket buffer), then the close.
pub(crate) fn refuse_connection(tcp: &TcpStream, refusals: &Refusals, limit: usize) {
    const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 50\r\n\r\n{\"error\":\"too many open connections\",\"status\":503}";
    // What the client already sent is read first: closing a socket with
    // unread bytes makes the kernel reset the connection, and the client
    // would see the reset instead of the answer.
    let mut sent = [0u8; 4096];
    let _ = tcp.try_read(&mut sent);
    let _ = tcp.try_write(REFUSED);
    if refusals.refuse_connection() {
        tracing::warn!(
            limit,
            "http connection refused: the listener holds {limit} connections ({}); one WARN every 10 s while it lasts",
            MAX_CONNECTIONS.name,
        );
    }
}

/// The `503` of a request not answered within `limit`.
pub(crate) fn request_timeout_response(limit: Duration, refusals: Option<&Refusals>) -> Response {
    if let Some(r) = refusals {
        r.request_timed_out();
    }
    tracing::warn!(
        limit = ?limit,
        "http request not answered within {limit:?} ({}): answered 503",
        REQUEST_TIMEOUT.name
    );
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the request was not answered within {limit:?} ({})",
            REQUEST_TIMEOUT.name
        ),
    )
}

/// The `408` of a request whose body did not arrive within `limit`; the
/// connection is closed after it.
pub(crate) fn body_timeout_response(
    limit: Option<Duration>,
    refusals: Option<&Refusals>,
) -> Response {
    if let Some(r) = refusals {
        r.body_timed_out();
    }
    let limit = limit.unwrap_or_default();
    tracing::warn!(
        limit = ?limit,
        "http request body not received within {limit:?} ({}): answered 408",
        BODY_TIMEOUT.name
    );
    let mut res = error_response(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "the request body was not received within {limit:?} ({})",
            BODY_TIMEOUT.name
        ),
    );
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

pin_project! {
    /// A request body that fails once its deadline has passed, and says so
    /// in `late`.
    pub(crate) struct DeadlineBody {
        #[pin]
        inner: Incoming,
        at: Instant,
        sleep: Option<Pin<Box<Sleep>>>,
        late: Arc<AtomicBool>,
    }
}

impl DeadlineBody {
    pub(crate) fn new(inner: Incoming, limit: Duration, late: Arc<AtomicBool>) -> Self {
        DeadlineBody {
            inner,
            at: Instant::now() + limit,
            sleep: None,
            late,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let at = *this.at;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        ready!(sleep.as_mut().poll(cx));
        this.late.store(true, Ordering::Release);
        Poll::Ready(Some(Err("request body timed out".into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
