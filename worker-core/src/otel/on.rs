//! With the `otel` feature: the spans, the propagation and the OTLP
//! exporter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::field::Empty;
use tracing::{Span, Subscriber};
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::Tally;
use crate::broker::{AmqpValue, Delivery, Headers};
use crate::config::ConfigError;

/// The tracer the layer exports through.
pub type Tracer = opentelemetry_sdk::trace::Tracer;

pub(super) type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

static ENABLED: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

pub(super) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The `tracing` layer that turns the runtime's spans (and the user's)
/// into OpenTelemetry spans of `provider`, and switches the runtime's span
/// making on. The runtime installs one from the `OTEL_*` variables; tests,
/// and applications that compose their own subscriber, use this one (with
/// their own exporter, sampler and resource).
///
/// The layer has its own filter: `info` and above, without the chatty
/// client crates, and without the runtime's per-run `batch` spans (they
/// stay in the logs), so that what a handler does is a child of the
/// batch's `process` span. Use it as
/// `registry().with(worker_core::otel::layer(&provider))`.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
{
    ENABLED.store(true, Ordering::Relaxed);
    let tracer = provider.tracer("worker");
    let layer: OpenTelemetryLayer<S, Tracer> = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false);
    layer.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
        // The runtime's per-run spans stay in the logs only: a batch's
        // trace is its `process` span and what the handler did in it.
        let run_span =
            meta.is_span() && meta.name() == "batch" && meta.target().starts_with("worker_");
        let quiet = super::QUIET_CRATES
            .iter()
            .any(|c| meta.target().starts_with(c));
        !run_span && !quiet && *meta.level() <= tracing::Level::INFO
    }))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The first of the variables that is set: `(name, value)`.
fn first_env(names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|&n| env(n).map(|v| (n, v)))
}

pub(super) fn layer_from_env<S>() -> Result<Option<BoxedLayer<S>>, ConfigError>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
{
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let endpoint = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ];
    let Some((variable, url)) = first_env(&endpoint) else {
        return Ok(None);
    };
    let protocol = check_settings(variable, &url)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(http_client()?)
        .with_protocol(protocol)
        .build()
        .map_err(|e| ConfigError {
            variable: variable.to_owned(),
            message: format!("expected a usable OTLP endpoint: {e}"),
        })?;
    let mut resource = Resource::builder();
    let named = env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
    if !named {
        let program = crate::config::binary_name().unwrap_or_else(|| "worker".to_owned());
        resource = resource.with_service_name(program);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let layer = layer(&provider);
    let _ = PROVIDER.set(provider);
    Ok(Some(Box::new(layer)))
}

/// The endpoint is an `http://` URL and the protocol one this build
/// speaks: OTLP over HTTP, protobuf (the standard's default) or JSON.
fn check_settings(variable: &str, url: &str) -> Result<Protocol, ConfigError> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(ConfigError {
            variable: variable.to_owned(),
            message: format!(
                "expected an http:// or https:// URL such as `http://127.0.0.1:4318`, got `{}`",
                crate::rules::url::mask_url(url)
            ),
        });
    }
    let protocol = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ];
    match first_env(&protocol) {
        None => Ok(Protocol::HttpBinary),
        Some((_, p)) if p == "http/protobuf" => Ok(Protocol::HttpBinary),
        Some((_, p)) if p == "http/json" => Ok(Protocol::HttpJson),
        Some((name, p)) => Err(ConfigError {
            variable: name.to_owned(),
            message: format!(
                "expected `http/protobuf` or `http/json`, got `{p}` (OTLP is exported over HTTP; gRPC is not built in)"
            ),
        }),
    }
}

/// The exporter's HTTP client: TLS on rustls with the ring provider,
/// verifying against the system's trust store plus the CA certificates of
/// `WORKER_TLS_CA_FILE`, as the other clients do.
fn http_client() -> Result<reqwest_otlp::blocking::Client, ConfigError> {
    // The provider reqwest's `rustls-no-provider` uses; another part of the
    // process may have installed it already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let variable = crate::config::TLS_CA_FILE.name;
    let mut builder = reqwest_otlp::blocking::Client::builder();
    if let Some(path) = env(variable) {
        let pem = crate::config::parse::read_pem(variable, &path, "CERTIFICATE")?;
        let certs = reqwest_otlp::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
            ConfigError {
                variable: variable.to_owned(),
                message: format!("`{path}`: {e}"),
            }
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| ConfigError {
        variable: "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
        message: format!("cannot build the OTLP HTTP client: {e}"),
    })
}

pub(super) fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.shutdown() {
            tracing::warn!(error = %e, "the OpenTelemetry exporter did not flush at shutdown");
        }
    }
}

/// Reads the W3C context from message headers.
struct Extract<'a>(&'a Headers);

impl Extractor for Extract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(AmqpValue::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Writes the W3C context into message headers.
struct Inject<'a>(&'a mut Headers);

impl Injector for Inject<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), AmqpValue::Str(value));
    }
}

/// Reads the W3C context from a lookup function (HTTP headers).
struct Lookup<'f, 'h>(&'f dyn Fn(&str) -> Option<&'h str>);

impl Extractor for Lookup<'_, '_> {
    fn get(&self, key: &str) -> Option<&str> {
        (self.0)(key)
    }

    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// One value for all `items`, or `None` when they differ.
fn common<'a>(mut items: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let first = items.next()?;
    items.all(|i| i == first).then_some(first)
}

pub(super) fn batch_span(route: &'static str, deliveries: &[Delivery]) -> Span {
    let destination = match common(deliveries.iter().map(|d| &*d.queue)) {
        Some(q) => q.to_owned(),
        None => {
            let mut queues: Vec<&str> = deliveries.iter().map(|d| &*d.queue).collect();
            queues.sort_unstable();
            queues.dedup();
            queues.join(",")
        }
    };
    let n = deliveries.len();
    let span = tracing::info_span!(
        target: super::SPAN_TARGET,
        "process",
        "otel.name" = format!("process {destination}"),
        "otel.kind" = "consumer",
        "otel.status_code" = Empty,
        "messaging.system" = "rabbitmq",
        "messaging.operation.type" = "process",
        "messaging.operation.name" = "process",
        "messaging.destination.name" = destination,
        "messaging.rabbitmq.destination.routing_key" = Empty,
        "messaging.batch.message_count" = n as i64,
        "messaging.message.id" = Empty,
        "worker.route" = route,
        "worker.batch.acked" = Empty,
        "worker.batch.requeued" = Empty,
        "worker.batch.rejected" = Empty,
        "worker.batch.retried" = Empty,
        "worker.batch.dead_lettered" = Empty,
        "error.type" = Empty,
    );
    if let Some(key) = common(deliveries.iter().map(|d| d.routing_key.as_str())) {
        span.record("messaging.rabbitmq.destination.routing_key", key);
    }
    let propagator = TraceContextPropagator::new();
    for d in deliveries {
        let cx = propagator.extract(&Extract(&d.properties.headers));
        let remote = cx.span().span_context().clone();
        if !remote.is_valid() {
            continue;
        }
        if n == 1 {
            // One message: its context is the parent, as the messaging
            // conventions suggest (and it is linked, as in every batch).
            let _ = span.set_parent(cx);
        }
        span.add_link(remote);
    }
    if n == 1 {
        if let Some(id) = &deliveries[0].properties.message_id {
            span.record("messaging.message.id", id.as_str());
        }
    }
    span
}

pub(super) fn record_settled(span: &Span, t: &Tally) {
    span.record("worker.batch.acked", i64::from(t.acked));
    span.record("worker.batch.requeued", i64::from(t.requeued));
    span.record("worker.batch.rejected", i64::from(t.rejected));
    span.record("worker.batch.retried", i64::from(t.retried));
    span.record("worker.batch.dead_lettered", i64::from(t.dead_lettered));
}

pub(super) fn add_exception(span: &Span, kind: &'static str, message: &str) {
    span.add_event(
        "exception",
        vec![
            opentelemetry::KeyValue::new("exception.type", kind),
            opentelemetry::KeyValue::new("exception.message", message.to_owned()),
        ],
    );
}

pub(super) fn producer_span(exchange: &str, routing_key: &str, count: usize) -> Span {
    let destination = if exchange.is_empty() {
        routing_key
    } else {
        exchange
    };
    tracing::info_span!(
        target: super::SPAN_TARGET,
        "publish",
        "otel.name" = format!("publish {destination}"),
        "otel.kind" = "producer",
        "otel.status_code" = Empty,
        "messaging.system" = "rabbitmq",
        "messaging.operation.type" = "send",
        "messaging.operation.name" = "publish",
        "messaging.destination.name" = destination,
        "messaging.rabbitmq.destination.routing_key" = routing_key,
        "messaging.batch.message_count" = count as i64,
        "error.type" = Empty,
    )
}

pub(super) fn inject(span: &Span, headers: &mut Headers) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut Inject(headers));
}

pub(super) fn server_span<'h>(
    method: &str,
    route: &str,
    path: &str,
    header: &dyn Fn(&str) -> Option<&'h str>,
) -> Span {
    let span = tracing::info_span!(
        target: super::SPAN_TARGET,
        "request",
        "otel.name" = format!("{method} {route}"),
        "otel.kind" = "server",
        "otel.status_code" = Empty,
        "http.request.method" = method,
        "http.route" = route,
        "url.path" = path,
        "http.response.status_code" = Empty,
    );
    let cx = TraceContextPropagator::new().extract(&Lookup(header));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
    span
}

pub(super) fn sse_batch_span(route: &str, url: &str, count: usize) -> Span {
    tracing::info_span!(
        target: super::SPAN_TARGET,
        "process",
        "otel.name" = format!("process {route}"),
        "otel.kind" = "consumer",
        "otel.status_code" = Empty,
        "messaging.operation.type" = "process",
        "messaging.batch.message_count" = count as i64,
        "url.full" = url,
        "worker.route" = route,
        "error.type" = Empty,
    )
}

pub(super) fn run_span(route: &'static str) -> Span {
    tracing::info_span!(
        target: super::SPAN_TARGET,
        parent: None,
        "run",
        "otel.name" = format!("run {route}"),
        "otel.kind" = "internal",
        "otel.status_code" = Empty,
        "error.type" = Empty,
        route,
        outcome = Empty,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_http_or_https() {
        assert!(check_settings("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318").is_ok());
        assert!(check_settings("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318").is_ok());
        let e = check_settings(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "grpc://u:otlppw@c:4317/?token=t",
        )
        .unwrap_err();
        assert_eq!(e.variable, "OTEL_EXPORTER_OTLP_ENDPOINT");
        assert!(
            e.message.contains("expected an http:// or https:// URL"),
            "{e}"
        );
        assert!(
            !e.message.contains("otlppw") && !e.message.contains("token=t"),
            "{e}"
        );
    }

    #[test]
    fn headers_carry_the_w3c_context_both_ways() {
        let mut headers = Headers::new();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        Inject(&mut headers).set("traceparent", tp.to_owned());
        assert_eq!(headers["traceparent"], AmqpValue::Str(tp.to_owned()));
        let cx = TraceContextPropagator::new().extract(&Extract(&headers));
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_remote() && sc.is_sampled());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // Garbage is no context, not an error.
        headers.insert("traceparent".into(), AmqpValue::Str("nonsense".into()));
        let cx = TraceContextPropagator::new().extract(&Extract(&headers));
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn a_mixed_batch_has_no_common_value() {
        assert_eq!(common(["a", "a"].into_iter()), Some("a"));
        assert_eq!(common(["a", "b"].into_iter()), None);
        assert_eq!(common(std::iter::empty()), None);
    }
}
