//! OpenTelemetry end to end: the real `fault-worker` binary (built with
//! the `otel` feature) exports over OTLP/HTTP to a receiver in this test,
//! which decodes the protobuf requests with `opentelemetry-proto`; the
//! messages come from a Python producer instrumented by
//! `opentelemetry-instrumentation-pika` (installed by `scripts/peers`),
//! and the worker's batch span links to the producer's traces.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// What the receiver got: `(service.name, span)` for every span.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// An OTLP/HTTP trace receiver on an ephemeral port: its base URL.
async fn receiver(received: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let received = received.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body)
                    .expect("an OTLP protobuf ExportTraceServiceRequest");
                let mut got = received.lock().unwrap();
                for rs in request.resource_spans {
                    let service = rs
                        .resource
                        .as_ref()
                        .and_then(|r| text(&r.attributes, "service.name"))
                        .unwrap_or_default();
                    for ss in rs.scope_spans {
                        got.extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn value(attributes: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|AnyValue { value }| value)
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match value(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match value(attributes, key)? {
        any_value::Value::IntValue(i) => Some(i),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Publishes `n` jobs to `queue` of `vhost` from Python, each under its own
/// trace, through an instrumented pika channel: the trace ids, in hex.
fn python_publish(vhost: &str, queue: &str, n: usize) -> Vec<String> {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv-peers/bin/python");
    let script = format!(
        r#"
import json, pika
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.instrumentation.pika import PikaInstrumentor
trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("python-producer")
conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/{vhost}"))
ch = conn.channel()
PikaInstrumentor.instrument_channel(ch)
traces = []
for i in range({n}):
    with tracer.start_as_current_span("order placed") as span:
        ch.basic_publish("", "{queue}", json.dumps({{"id": i}}),
                         pika.BasicProperties(content_type="application/json", delivery_mode=2))
        traces.append(format(span.get_span_context().trace_id, "032x"))
conn.close()
print(json.dumps(traces))
"#
    );
    let out = Command::new(python)
        .args(["-c", &script])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (scripts/peers creates it): {e}"));
    assert!(
        out.status.success(),
        "the instrumented Python producer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON list of trace ids")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_spans_reach_an_otlp_receiver_linked_to_a_python_producer() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("otel");
    vh.declare(&["late"]).await;
    let received: Received = Arc::default();
    let endpoint = receiver(received.clone()).await;
    let mut w = WorkerProc::spawn(
        "w",
        &vh,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "fault-worker-otel"),
        ],
    );
    {
        let vh = &vh;
        wait_until(
            "the route declared its queue",
            Duration::from_secs(60),
            || w.tail(),
            async || {
                vh.ctl(&["-q", "list_queues", "-p", &vh.name, "name"])
                    .lines()
                    .any(|l| l.trim() == "jobs")
            },
        )
        .await;
    }
    let traces = python_publish(&vh.name, "jobs", 20);
    assert_eq!(traces.iter().collect::<BTreeSet<_>>().len(), 20);
    {
        let log = &mut w.log;
        wait_until(
            "20 jobs handled",
            Duration::from_secs(30),
            String::new,
            async || {
                log.refresh();
                log.route_len("jobs") == 20
            },
        )
        .await;
    }
    // SIGTERM: the exporter flushes what it still holds before the exit.
    w.stop(Duration::from_secs(30)).await;
    let spans = received.lock().unwrap().clone();
    let batches: Vec<&Span> = spans
        .iter()
        .filter(|(service, s)| service == "fault-worker-otel" && s.name == "process jobs")
        .map(|(_, s)| s)
        .collect();
    assert!(
        !batches.is_empty(),
        "no `process jobs` span among {} received",
        spans.len()
    );
    let linked: BTreeSet<String> = batches
        .iter()
        .flat_map(|s| s.links.iter().map(|l| hex(&l.trace_id)))
        .collect();
    let expected: BTreeSet<String> = traces.into_iter().collect();
    println!(
        "[otel] {} spans received over OTLP/HTTP; {} `process jobs` batch span(s) linking {} Python traces",
        spans.len(),
        batches.len(),
        linked.len()
    );
    assert_eq!(
        linked, expected,
        "the batch spans link every producer trace"
    );
    let handled: i64 = batches
        .iter()
        .map(|s| int(&s.attributes, "messaging.batch.message_count").unwrap())
        .sum();
    assert_eq!(handled, 20);
    for s in &batches {
        assert_eq!(
            text(&s.attributes, "messaging.system").as_deref(),
            Some("rabbitmq")
        );
        assert_eq!(
            text(&s.attributes, "messaging.destination.name").as_deref(),
            Some("jobs")
        );
        assert_eq!(
            text(&s.attributes, "messaging.operation.type").as_deref(),
            Some("process")
        );
        assert_eq!(
            int(&s.attributes, "worker.batch.acked"),
            int(&s.attributes, "messaging.batch.message_count")
        );
        // SpanKind::Consumer in OTLP.
        assert_eq!(s.kind, 5, "consumer span kind");
    }
    vh.delete();
}
