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

/// How [`run_logged`] logs a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    /// The failure is the outcome of the call's messages: at `error`, or
    /// at `warn` for an error that names its action (the handler chose
    /// the outcome).
    Outcome,
    /// A run of a bisection, one of several: at `debug`; the messages it
    /// isolates are logged once they are known ([`log_isolated`]).
    Bisecting,
}

/// A failed call: how it failed, and its message (the error's text, the
/// panic's message, or the timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// How it failed.
    pub failure: Failure,
    /// What it said.
    pub message: String,
}

/// Runs a handler future inside `span`, cancelling it (dropping it) past
/// `timeout`. Errors, panics and timeouts are logged and counted; a panic
/// never escapes.
pub(crate) async fn run_guarded(
    stats: &RouteStats,
    span: tracing::Span,
    timeout: Option<Duration>,
    fut: impl Future<Output = Result<(), Error>>,
) -> Result<(), Failure> {
    run_logged(stats, span, timeout, fut, Logged::Outcome)
        .await
        .map_err(|f| f.failure)
}

/// `run_guarded`, logging a failure as `logged` says, and returning its
/// message.
pub async fn run_logged(
    stats: &RouteStats,
    span: tracing::Span,
    timeout: Option<Duration>,
    fut: impl Future<Output = Result<(), Error>>,
    logged: Logged,
) -> Result<(), Failed> {
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
        Some(Ok(Err(e))) => Err(Failed {
            failure: Failure::Error(e.action()),
            message: format!("{e:#}"),
        }),
        Some(Err(panic)) => Err(Failed {
            failure: Failure::Panic,
            message: panic_message(&*panic).to_owned(),
        }),
        None => Err(Failed {
            failure: Failure::Timeout,
            message: format!(
                "cancelled after {}",
                humantime::format_duration(timeout.unwrap_or_default())
            ),
        }),
    };
    if let Err(failed) = &outcome {
        report(stats, &span, failed, logged);
    }
    span.record(
        "outcome",
        outcome.as_ref().err().map_or("ok", |f| f.failure.kind()),
    );
    outcome
}

/// Logs, counts and traces a failed call.
fn report(stats: &RouteStats, span: &tracing::Span, failed: &Failed, logged: Logged) {
    let (kind, message) = (failed.failure.kind(), failed.message.as_str());
    let route = stats.route.as_str();
    match (logged, failed.failure) {
        (Logged::Bisecting, _) => {
            tracing::debug!(parent: span, route, kind, error = message, "bisection run failed");
        }
        (Logged::Outcome, Failure::Error(Some(action))) => tracing::warn!(
            parent: span, route, action = action.name(), error = message,
            "handler failed and chose `{action}` for its messages"
        ),
        (Logged::Outcome, Failure::Error(None)) => {
            tracing::error!(parent: span, route, error = message, "handler failed");
        }
        (Logged::Outcome, Failure::Panic) => {
            tracing::error!(parent: span, route, panic = message, "handler panicked");
        }
        (Logged::Outcome, Failure::Timeout) => tracing::error!(
            parent: span, route, error = message,
            "handler timed out and was cancelled"
        ),
    }
    stats.record_failure(format!("{kind}: {message}"));
    on_traced_span(kind, || message.to_owned());
    let counter = match failed.failure {
        Failure::Error(_) => &stats.errors,
        Failure::Panic => &stats.panics,
        Failure::Timeout => &stats.timeouts,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Logs a message that bisection isolated, once: `id` is its message id
/// (an amqp message's, an event's), `delivery_tag` its tag on the channel
/// (amqp). A handler-chosen action is logged at `warn`, any other failure
/// at `error`.
pub fn log_isolated(route: &str, id: Option<&str>, delivery_tag: Option<u64>, failed: &Failed) {
    let message = failed.message.as_str();
    match failed.failure {
        Failure::Error(Some(action)) => tracing::warn!(
            route,
            id,
            delivery_tag,
            action = action.name(),
            error = message,
            "bisection isolated a message and the handler chose `{action}` for it"
        ),
        failure => tracing::error!(
            route,
            id,
            delivery_tag,
            kind = failure.kind(),
            error = message,
            "bisection isolated a failing message"
        ),
    }
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
