//! Tracing through the broker (feature `otel`), with the SDK's in-memory
//! exporter: a batch span links to the context of each of its messages, a
//! batch of one is the child of its message's context, a publish from the
//! handler continues the batch's trace, and an HTTP request continues the
//! caller's `traceparent`.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use worker::testing::http::TestServer;
use worker::{route, Message, Publisher};

#[route(amqp, queues = ["otel.batch"], bulk_size = 100, bulk_flush_interval = "10s")]
async fn otel_batch(msgs: Vec<Message<u64>>, publisher: Publisher) -> Result<(), worker::Error> {
    let doubled: Vec<u64> = msgs.iter().map(|m| m.body() * 2).collect();
    publisher.send_all("otel.out", &doubled).await?;
    Ok(())
}

#[route(amqp, queues = ["otel.single"])]
async fn otel_single(_msgs: Vec<Message<u64>>) {}

#[route(amqp, queues = ["otel.failing"], bulk_size = 3, bulk_flush_interval = "50ms",
        on_exception = reject)]
async fn otel_failing(_msgs: Vec<Message<u64>>) -> Result<(), worker::Error> {
    Err(worker::Error::msg("the database is down"))
}

#[route(http, method = GET, path = "/traced/{id}")]
async fn traced(worker::http::Path(id): worker::http::Path<u64>) -> String {
    id.to_string()
}

/// The global subscriber with the worker's layer over an in-memory
/// exporter (spans exported as they end).
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();
    &EXPORTER
        .get_or_init(|| {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            let subscriber = tracing_subscriber::registry().with(worker::otel::layer(&provider));
            tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
            (exporter, provider)
        })
        .0
}

/// Waits until a finished span matches `pick`.
async fn span_where(what: &str, pick: impl Fn(&SpanData) -> bool) -> SpanData {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let spans = exporter().get_finished_spans().unwrap();
        if let Some(s) = spans.into_iter().find(|s| pick(s)) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "no span {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// The trace id of a `traceparent` header value.
fn trace_of(traceparent: &str) -> TraceId {
    TraceId::from_hex(traceparent.split('-').nth(1).expect("traceparent")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_span_links_every_message_and_its_publishes_continue_it() {
    exporter();
    let t = TestServer::builder()
        .route("otel_batch")
        .declare("otel.out")
        .start()
        .await;
    let publisher = t.app().publisher().unwrap();
    // 100 messages, each published under a parent span of its own trace.
    let mut parents = HashSet::new();
    for i in 0..100u64 {
        let parent = tracing::info_span!("producer", i);
        parents.insert(parent.context().span().span_context().trace_id());
        publisher
            .send("otel.batch", &i)
            .instrument(parent)
            .await
            .unwrap();
    }
    assert_eq!(parents.len(), 100, "100 distinct traces");
    let batch = span_where("process otel.batch", |s| s.name == "process otel.batch").await;
    let linked: HashSet<TraceId> = batch
        .links
        .iter()
        .map(|l| l.span_context.trace_id())
        .collect();
    assert_eq!(batch.links.len(), 100, "one link per message");
    assert_eq!(linked, parents, "the links are the messages' traces");
    // Each link is the publish span that sent the message (the parent's child).
    let spans = exporter().get_finished_spans().unwrap();
    let publish_ids: HashSet<SpanId> = spans
        .iter()
        .filter(|s| s.name == "publish otel.batch")
        .map(|s| s.span_context.span_id())
        .collect();
    let link_ids: HashSet<SpanId> = batch
        .links
        .iter()
        .map(|l| l.span_context.span_id())
        .collect();
    assert_eq!(link_ids, publish_ids);
    for (key, value) in [
        ("messaging.system", "rabbitmq"),
        ("messaging.operation.type", "process"),
        ("messaging.destination.name", "otel.batch"),
        ("messaging.rabbitmq.destination.routing_key", "otel.batch"),
        ("messaging.batch.message_count", "100"),
        ("worker.batch.acked", "100"),
        ("worker.batch.rejected", "0"),
    ] {
        assert_eq!(attribute(&batch, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(batch.span_kind, opentelemetry::trace::SpanKind::Consumer);
    // The handler's publish is a child of the batch span, and its messages
    // carry that publish's context, in the batch's trace.
    let out = span_where("publish otel.out", |s| s.name == "publish otel.out").await;
    assert_eq!(out.parent_span_id, batch.span_context.span_id());
    assert_eq!(out.span_context.trace_id(), batch.span_context.trace_id());
    let stored = t.take_messages("otel.out");
    assert_eq!(stored.len(), 100);
    for m in &stored {
        let tp = m.properties.headers["traceparent"].as_str().unwrap();
        assert_eq!(trace_of(tp), batch.span_context.trace_id());
        assert!(tp.contains(&out.span_context.span_id().to_string()), "{tp}");
    }
    t.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_one_is_the_child_of_its_message() {
    exporter();
    let t = TestServer::builder().route("otel_single").start().await;
    let publisher = t.app().publisher().unwrap();
    let parent = tracing::info_span!("sender");
    let trace = parent.context().span().span_context().trace_id();
    publisher
        .publish_with(
            "",
            "otel.single",
            &7u64,
            worker::Properties::default().with_message_id("m-7"),
        )
        .instrument(parent)
        .await
        .unwrap();
    let sent = span_where("publish otel.single", |s| s.name == "publish otel.single").await;
    let batch = span_where("process otel.single", |s| s.name == "process otel.single").await;
    assert_eq!(batch.span_context.trace_id(), trace);
    assert_eq!(batch.parent_span_id, sent.span_context.span_id());
    assert_eq!(
        attribute(&batch, "messaging.message.id").as_deref(),
        Some("m-7")
    );
    t.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_request_continues_the_callers_trace() {
    exporter();
    let t = TestServer::builder().route("traced").start().await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let res = worker_testkit::http_client()
        .get(t.url("/traced/5"))
        .header("traceparent", format!("00-{trace}-{caller}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let server = span_where("GET /traced/{id}", |s| s.name == "GET /traced/{id}").await;
    assert_eq!(
        server.span_context.trace_id(),
        TraceId::from_hex(trace).unwrap()
    );
    assert_eq!(server.parent_span_id, SpanId::from_hex(caller).unwrap());
    assert_eq!(server.span_kind, opentelemetry::trace::SpanKind::Server);
    assert_eq!(
        attribute(&server, "http.route").as_deref(),
        Some("/traced/{id}")
    );
    assert_eq!(
        attribute(&server, "http.response.status_code").as_deref(),
        Some("200")
    );
    t.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_records_its_error_and_settlement() {
    exporter();
    let t = TestServer::builder().route("otel_failing").start().await;
    for i in 0..3u64 {
        t.publish("otel.failing", &i).await;
    }
    let batch = span_where("process otel.failing", |s| s.name == "process otel.failing").await;
    assert_eq!(attribute(&batch, "error.type").as_deref(), Some("error"));
    assert!(
        matches!(batch.status, opentelemetry::trace::Status::Error { .. }),
        "{:?}",
        batch.status
    );
    assert_eq!(
        attribute(&batch, "worker.batch.rejected").as_deref(),
        Some("3")
    );
    assert_eq!(
        attribute(&batch, "worker.batch.acked").as_deref(),
        Some("0")
    );
    let exception = batch
        .events
        .iter()
        .flat_map(|e| e.attributes.iter())
        .any(|kv| kv.value.to_string().contains("the database is down"));
    assert!(
        exception,
        "the handler's error is an event of the span: {:?}",
        batch.events
    );
    t.shutdown().await.unwrap();
}
