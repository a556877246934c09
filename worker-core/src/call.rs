//! Running one handler call, for every backend (amqp batches, SSE batches,
//! recurring tasks): timing, tracing span, the route's `timeout`, error and
//! panic capture.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use tracing::Instrument;

use crate::error::Error;
use crate::metrics::RouteStats;
use crate::settlement::Action;

/// How a handler call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It returned `Err`; the error's own action, if it named one.
    Error(Option<Action>),
    /// It panicked.
    Panic,
    /// It ran past the route's `timeout` and was cancelled.
    Timeout,
}

impl Failure {
    /// The action the error named ([`Error::reject`], ...), if any.
    pub fn action(self) -> Option<Action> {
        match self {
            Failure::Error(a) => a,
            Failure::Panic | Failure::Timeout => None,
        }
    }

    /// The lowercase label of metrics and logs (`error`, `panic`, `timeout`).
    pub fn kind(self) -> &'static str {
        match self {
            Failure::Error(_) => "error",
            Failure::Panic => "panic",
            Failure::Timeout => "timeout",
        }
    }
}

/// Runs a handler future inside `span`, cancelling it (dropping it) past
/// `timeout`. Errors, panics and timeouts are logged and counted; a panic
/// never escapes.
pub async fn run_guarded(
    stats: &RouteStats,
    span: tracing::Span,
    timeout: Option<Duration>,
    fut: impl Future<Output = Result<(), Error>>,
) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let guarded = AssertUnwindSafe(fut).catch_unwind();
    let result = match timeout {
        None => Some(guarded.instrument(span.clone()).await),
        Some(limit) => tokio::time::timeout(limit, guarded)
            .instrument(span.clone())
            .await
            .ok(),
    };
    let elapsed = started.elapsed();
    stats
        .handler_micros
        .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    stats.handler_duration.observe(elapsed);
    stats.runs.fetch_add(1, Ordering::Relaxed);
    let outcome = match result {
        Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => {
            tracing::error!(parent: &span, route = %stats.route, error = %e, "handler failed");
            stats.record_failure(format!("error: {e}"));
            on_traced_span("error", || e.to_string());
            Err(Failure::Error(e.action()))
        }
        Some(Err(panic)) => {
            let message = panic_message(&*panic);
            tracing::error!(
                parent: &span,
                route = %stats.route,
                panic = message,
                "handler panicked"
            );
            stats.record_failure(format!("panic: {message}"));
            on_traced_span("panic", || message.to_owned());
            Err(Failure::Panic)
        }
        None => {
            let limit = timeout.unwrap_or_default();
            tracing::error!(
                parent: &span,
                route = %stats.route,
                timeout_ms = limit.as_millis() as u64,
                "handler timed out and was cancelled"
            );
            stats.record_failure(format!(
                "timeout: cancelled after {}",
                humantime::format_duration(limit)
            ));
            on_traced_span("timeout", || {
                format!("cancelled after {}", humantime::format_duration(limit))
            });
            Err(Failure::Timeout)
        }
    };
    let counter = match outcome {
        Ok(()) => None,
        Err(Failure::Error(_)) => Some(&stats.errors),
        Err(Failure::Panic) => Some(&stats.panics),
        Err(Failure::Timeout) => Some(&stats.timeouts),
    };
    if let Some(c) = counter {
        c.fetch_add(1, Ordering::Relaxed);
    }
    span.record("outcome", outcome.err().map_or("ok", Failure::kind));
    outcome
}

/// With tracing on, records a failed run on the span it runs in (a
/// batch's `process` span; nothing for a recurring run, whose own span
/// gets the error event).
fn on_traced_span(kind: &'static str, message: impl FnOnce() -> String) {
    if crate::otel::enabled() {
        crate::otel::record_exception(&tracing::Span::current(), kind, &message());
    }
}

/// The message of a panic payload (`panic!("...")` carries a `&str` or a
/// `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}
