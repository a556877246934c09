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

/// An OTLP/HTTP receiver over https (Python's `http.server` with `ssl`,
/// its certificate signed by a CA made here): prints `PORT <n>`, then one
/// line per request, `<path> <hex body>`.
const HTTPS_RECEIVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        print(self.path, body.hex(), flush=True)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("PORT", server.server_address[1], flush=True)
server.serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_over_https_with_a_private_ca() {
    use std::io::{BufRead, BufReader};
    let _serial = SERIAL.lock().await;
    // The CA and the receiver's certificate, as files.
    let dir = std::env::temp_dir().join(format!("worker-otlp-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("cert.pem"), cert.pem()).unwrap();
    std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();

    let mut receiver = Command::new("python3")
        .args(["-c", HTTPS_RECEIVER, &path("cert.pem"), &path("key.pem")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stdout = receiver.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let first = lines_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the receiver starts");
    let port = first.strip_prefix("PORT ").expect("PORT line").to_owned();

    let vh = Vhost::fresh("otel_https");
    vh.declare(&["late", "jobs"]).await;
    let endpoint = format!("https://localhost:{port}");
    let mut w = WorkerProc::spawn(
        "w",
        &vh,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "fault-worker-https"),
            ("WORKER_TLS_CA_FILE", &path("ca.pem")),
        ],
    );
    vh.publish_ids("jobs", 0..5, false).await;
    {
        let log = &mut w.log;
        wait_until(
            "5 jobs handled",
            Duration::from_secs(60),
            String::new,
            async || {
                log.refresh();
                log.route_len("jobs") == 5
            },
        )
        .await;
    }
    w.stop(Duration::from_secs(30)).await;
    let mut spans = Vec::new();
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(2)) {
        let Some((path, hex)) = line.split_once(' ') else {
            continue;
        };
        assert_eq!(path, "/v1/traces");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let request = ExportTraceServiceRequest::decode(&bytes[..]).expect("OTLP protobuf");
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans.into_iter().map(|s| s.name));
            }
        }
    }
    let _ = receiver.kill();
    let _ = receiver.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        spans.iter().any(|s| s == "process jobs"),
        "no batch span over https: {spans:?}\n{}",
        w.tail()
    );
    println!(
        "[otlp https] {} spans received over https, verified with the private CA",
        spans.len()
    );
    vh.delete();
}
