//! Running one handler call, for every backend (amqp batches, SSE batches,
//! recurring tasks): timing, tracing span, error and panic capture.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use futures_util::FutureExt;
use tracing::Instrument;

use crate::error::Error;
use crate::metrics::RouteStats;

/// Runs a handler future inside `span`; returns whether it succeeded. Errors
/// and panics are logged and counted; a panic never escapes.
pub async fn run_guarded(
    stats: &RouteStats,
    span: tracing::Span,
    fut: impl Future<Output = Result<(), Error>>,
) -> bool {
    let started = std::time::Instant::now();
    let result = AssertUnwindSafe(fut)
        .catch_unwind()
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    stats
        .handler_micros
        .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    stats.handler_duration.observe(elapsed);
    stats.runs.fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(Ok(())) => {
            span.record("outcome", "ok");
            true
        }
        Ok(Err(e)) => {
            span.record("outcome", "error");
            stats.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(parent: &span, route = %stats.route, error = %e, "handler failed");
            false
        }
        Err(panic) => {
            span.record("outcome", "panic");
            stats.panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                parent: &span,
                route = %stats.route,
                panic = panic_message(&*panic),
                "handler panicked"
            );
            false
        }
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
