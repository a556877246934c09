//! Without the `otel` feature: no spans, nothing exported.

use crate::broker::Delivery;

pub(super) type BoxedLayer<S> = Box<dyn tracing_subscriber::Layer<S> + Send + Sync + 'static>;

pub(super) fn enabled() -> bool {
    false
}

pub(super) fn layer_from_env<S>() -> Result<Option<BoxedLayer<S>>, crate::config::ConfigError> {
    Ok(None)
}

pub(super) fn shutdown() {}

pub(super) fn batch_span(_route: &'static str, _deliveries: &[Delivery]) -> tracing::Span {
    tracing::Span::none()
}

pub(super) fn record_settled(_span: &tracing::Span, _tally: &super::Tally) {}

pub(super) fn add_exception(_span: &tracing::Span, _kind: &'static str, _message: &str) {}

pub(super) fn producer_span(_exchange: &str, _routing_key: &str, _count: usize) -> tracing::Span {
    tracing::Span::none()
}

pub(super) fn inject(_span: &tracing::Span, _headers: &mut crate::broker::Headers) {}

pub(super) fn server_span<'h>(
    _method: &str,
    _route: &str,
    _path: &str,
    _header: &dyn Fn(&str) -> Option<&'h str>,
) -> tracing::Span {
    tracing::Span::none()
}

pub(super) fn sse_batch_span(_route: &str, _url: &str, _count: usize) -> tracing::Span {
    tracing::Span::none()
}

pub(super) fn run_span(route: &'static str) -> tracing::Span {
    tracing::info_span!("run", route, outcome = tracing::field::Empty)
}
