//! The per-path guard: one hand-written tower service around each route
//! template (user routes and the operations endpoints).
//!
//! On every request it
//! - counts the request by method and status and records its duration in
//!   the path's [`PathStats`] (atomics only, no label lookup);
//! - turns a handler panic into a logged `500` with a JSON body, so the
//!   server keeps serving;
//! - rewrites empty and `text/plain` error responses (axum's extractor
//!   rejections, the router's `405`) into the JSON error shape, see
//!   [`crate::error`].
//!
//! The success path costs two clock reads, a few atomic increments and no
//! allocation; only error responses that need rewriting take a boxed future.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use futures_util::future::{BoxFuture, CatchUnwind};
use futures_util::FutureExt;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use worker_core::backend::call::panic_message;

use crate::error::{error_response, needs_rewrite, rewrite};
use crate::metrics::PathStats;

/// Wraps a path's service in a [`Guard`] recording into `stats`.
#[derive(Clone)]
pub(crate) struct GuardLayer {
    stats: Arc<PathStats>,
    traced: bool,
}

impl GuardLayer {
    pub(crate) fn new(stats: Arc<PathStats>) -> Self {
        GuardLayer {
            stats,
            traced: false,
        }
    }

    /// With tracing on (feature `otel`), each request gets a server span
    /// that continues the caller's `traceparent`: user routes, not the
    /// health and metrics endpoints.
    pub(crate) fn traced(mut self) -> Self {
        self.traced = true;
        self
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            stats: self.stats.clone(),
            traced: self.traced,
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub(crate) struct Guard<S> {
    inner: S,
    stats: Arc<PathStats>,
    traced: bool,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let method = req.method().clone();
        let span = if self.traced {
            let headers = req.headers();
            worker_core::backend::otel::server_span(
                method.as_str(),
                self.stats.route(),
                req.uri().path(),
                |name| headers.get(name).and_then(|v| v.to_str().ok()),
            )
        } else {
            tracing::Span::none()
        };
        GuardFuture {
            span,
            state: State::Inner {
                fut: AssertUnwindSafe(self.inner.call(req)).catch_unwind(),
            },
            stats: self.stats.clone(),
            method,
            started,
        }
    }
}

pin_project! {
    /// The future of [`Guard`].
    pub(crate) struct GuardFuture<F> {
        #[pin]
        state: State<F>,
        span: tracing::Span,
        stats: Arc<PathStats>,
        method: Method,
        started: Instant,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] fut: CatchUnwind<AssertUnwindSafe<F>> },
        Rewrite { fut: BoxFuture<'static, Response> },
    }
}

impl<F> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        loop {
            let res = match this.state.as_mut().project() {
                StateProj::Inner { fut } => match ready!(fut.poll(cx)) {
                    Ok(Ok(res)) if needs_rewrite(&res) => {
                        this.state.set(State::Rewrite {
                            fut: Box::pin(rewrite(res)),
                        });
                        continue;
                    }
                    Ok(Ok(res)) => res,
                    Ok(Err(never)) => match never {},
                    Err(panic) => {
                        tracing::error!(
                            method = %this.method,
                            route = this.stats.route(),
                            panic = panic_message(&*panic),
                            "http handler panicked"
                        );
                        error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                    }
                },
                StateProj::Rewrite { fut } => ready!(fut.as_mut().poll(cx)),
            };
            this.stats
                .record(this.method, res.status(), this.started.elapsed());
            worker_core::backend::otel::record_status(this.span, res.status().as_u16());
            return Poll::Ready(Ok(res));
        }
    }
}
