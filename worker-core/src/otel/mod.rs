//! OpenTelemetry (feature `otel`): the W3C trace context travels in AMQP
//! headers (`traceparent`, `tracestate`), each consumed batch gets one
//! consumer span `process <queue>` with a link to every message's context,
//! publishes are producer spans, HTTP requests continue an incoming
//! `traceparent`, recurring runs are root spans. Spans go out by OTLP over
//! HTTP, configured only by the standard `OTEL_*` variables; see
//! `docs/operations.md`.
//!
//! Without the feature, or when no OTLP endpoint is configured, every span
//! function here returns [`tracing::Span::none()`] and nothing is added to
//! messages: the message path pays one relaxed atomic load per batch and
//! per publish.
//!
//! The spans are `tracing` spans, exported through `tracing-opentelemetry`:
//! a user's own spans inside a handler are children of the batch span.

use crate::broker::Delivery;

#[cfg(feature = "otel")]
mod on;
#[cfg(feature = "otel")]
use on as imp;
#[cfg(feature = "otel")]
pub use on::{layer, Tracer};

#[cfg(not(feature = "otel"))]
mod off;
#[cfg(not(feature = "otel"))]
use off as imp;

/// The target of the spans made here. The log's fmt layer leaves them
/// out, so that their OpenTelemetry attributes stay out of log lines (the
/// runtime's own `batch` span still names the route).
pub(crate) const SPAN_TARGET: &str = "worker::otel";

/// Whether this build has the `otel` feature.
pub const BUILT: bool = cfg!(feature = "otel");

/// The standard `OTEL_*` variables the exporter reads (listed by `--help`
/// in a build with the `otel` feature).
pub const VARIABLES: &[crate::config::Variable] = {
    use crate::config::Variable as V;
    &[
        V::new(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTLP/HTTP collector, http://host:4318 (traces go to /v1/traces); unset: no tracing",
            "",
        ),
        V::new(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "the traces endpoint itself, instead of the one above",
            "",
        ),
        V::new(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "`http/protobuf` or `http/json`",
            "http/protobuf",
        ),
        V::new(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "headers of export requests, `key=value,key2=value2`",
            "",
        ),
        V::new(
            "OTEL_SERVICE_NAME",
            "the service.name resource attribute",
            "the binary's name",
        ),
        V::new(
            "OTEL_RESOURCE_ATTRIBUTES",
            "more resource attributes, `key=value,...`",
            "",
        ),
        V::new(
            "OTEL_TRACES_SAMPLER",
            "`parentbased_always_on`, `always_off`, `traceidratio`, ...",
            "parentbased_always_on",
        ),
        V::new(
            "OTEL_TRACES_SAMPLER_ARG",
            "the sampler's argument (a ratio)",
            "",
        ),
        V::new(
            "OTEL_SPAN_LINK_COUNT_LIMIT",
            "links kept per batch span (one per message)",
            "128",
        ),
        V::new("OTEL_SDK_DISABLED", "`true` turns tracing off", "false"),
    ]
};

/// What a batch's messages were settled with, recorded on its span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Acked.
    pub acked: u32,
    /// Returned to their queue.
    pub requeued: u32,
    /// Rejected (discarded, or dead-lettered by the broker).
    pub rejected: u32,
    /// Republished through a delay queue.
    pub retried: u32,
    /// Published to the route's dead-letter queue.
    pub dead_lettered: u32,
}

/// Whether spans are being made: the feature is on and a layer is
/// installed (by the runtime, from the `OTEL_*` variables, or by
/// [`layer`]).
pub(crate) fn enabled() -> bool {
    imp::enabled()
}

/// Crates whose own logs repeat, in their internal terms, failures that the
/// runtime already reports once in its own words (with the connection's
/// name and the password masked): lapin logs a refused login as three lines
/// of its I/O loop, for example. Left out of the log lines (unless asked
/// for) and of the exported spans.
pub(crate) const QUIET_CRATES: &[&str] = &["lapin", "amq_protocol", "async_rs", "tcp_stream"];

/// Installs the OTLP exporter from the standard variables, when an
/// endpoint is set: the layer to add to the subscriber, or `None`.
pub(crate) fn layer_from_env<S>() -> Result<Option<imp::BoxedLayer<S>>, crate::config::ConfigError>
where
    S: tracing::Subscriber
        + for<'a> tracing_subscriber::registry::LookupSpan<'a>
        + Send
        + Sync
        + 'static,
{
    imp::layer_from_env()
}

/// Flushes and stops the exporter installed from the environment (the
/// generated binary calls it once the runtime has stopped).
pub fn shutdown() {
    imp::shutdown();
}

/// The consumer span of one batch of an `amqp` route, `process <queue>`,
/// linked to the context of each message (and, for a batch of one, a child
/// of that message's context).
pub(crate) fn batch_span(route: &'static str, deliveries: &[Delivery]) -> tracing::Span {
    if !enabled() || deliveries.is_empty() {
        return tracing::Span::none();
    }
    imp::batch_span(route, deliveries)
}

/// Records a batch's settlement on its span.
pub(crate) fn record_settled(span: &tracing::Span, tally: &Tally) {
    if !span.is_none() {
        imp::record_settled(span, tally);
    }
}

/// Records a failure (`error`, `panic`, `timeout`, `publish`) on a span
/// made here: its `error.type`, and the error status.
pub(crate) fn record_failure(span: &tracing::Span, kind: &'static str) {
    if !span.is_none() {
        span.record("error.type", kind);
        span.record("otel.status_code", "error");
    }
}

/// Records a failed handler run on the span that holds it (a batch's
/// `process` span): `error.type`, the error status, and an `exception`
/// event with the message. Called by the runtime as each run fails.
pub(crate) fn record_exception(span: &tracing::Span, kind: &'static str, message: &str) {
    if !span.is_none() {
        record_failure(span, kind);
        imp::add_exception(span, kind, message);
    }
}

/// The producer span of a publish of `count` messages.
pub(crate) fn producer_span(exchange: &str, routing_key: &str, count: usize) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    imp::producer_span(exchange, routing_key, count)
}

/// Writes `span`'s context into message headers (`traceparent`,
/// `tracestate`), the W3C trace context that other OpenTelemetry clients
/// read. Nothing for a disabled span.
pub(crate) fn inject(span: &tracing::Span, headers: &mut crate::broker::Headers) {
    if !span.is_none() {
        imp::inject(span, headers);
    }
}

/// The W3C trace-context headers (`traceparent`, and `tracestate` when
/// there is one) of the current span, to send with an outgoing request
/// made in a handler so that the callee continues the batch's trace:
/// `client.get(url).headers(...)`. Empty when tracing is off.
pub fn current_headers() -> Vec<(String, String)> {
    let span = tracing::Span::current();
    if !enabled() || span.is_none() {
        return Vec::new();
    }
    let mut headers = crate::broker::Headers::new();
    imp::inject(&span, &mut headers);
    headers
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
        .collect()
}

/// The server span of an HTTP request to `route` (the path template),
/// continuing the caller's trace when `header("traceparent")` names one.
/// [`Span::none`](tracing::Span::none) when tracing is off.
pub fn server_span<'h>(
    method: &str,
    route: &str,
    path: &str,
    header: impl Fn(&str) -> Option<&'h str>,
) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    imp::server_span(method, route, path, &header)
}

/// Records the response status on a server span (5xx marks it failed).
pub fn record_status(span: &tracing::Span, status: u16) {
    if !span.is_none() {
        span.record("http.response.status_code", i64::from(status));
        if status >= 500 {
            span.record("otel.status_code", "error");
        }
    }
}

/// The consumer span of one batch of an `sse` route, `process <route>`.
pub fn sse_batch_span(route: &str, url: &str, count: usize) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    imp::sse_batch_span(route, url, count)
}

/// The span of one run of a recurring task (`every`): a root span.
pub(crate) fn run_span(route: &'static str) -> tracing::Span {
    if !enabled() {
        return tracing::info_span!("run", route, outcome = tracing::field::Empty);
    }
    imp::run_span(route)
}
