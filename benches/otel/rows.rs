//! `scripts/bench-amqp --otel`: the cost of tracing at bulk 500. Three
//! worker processes per round, interleaved, each draining the same
//! pre-filled queue whose messages all carry a `traceparent` (as if each
//! came from a traced producer):
//!
//! - `feature off`: this program built without the `otel` feature
//!   (`WORKER_BENCH_PLAIN`, built by scripts/bench-amqp);
//! - `otel, sampler off`: built with it, exporting to a local OTLP
//!   receiver with `OTEL_TRACES_SAMPLER=always_off`;
//! - `otel, always on`: the same with `OTEL_TRACES_SAMPLER=always_on`: a
//!   `process` span per batch with a link per message, exported.
//!
//! The receiver (in this process) answers every export with 200 and
//! counts what it got.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

use super::{connect, median, Sample};

/// Child mode `publish-traced N QUEUE`: purges `queue` and publishes `n`
/// messages, each with a `traceparent` of its own trace.
pub(crate) async fn publish_traced(n: u64, queue: &str) {
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(queue.into(), Default::default(), FieldTable::default())
        .await
        .unwrap();
    ch.queue_purge(queue.into(), Default::default())
        .await
        .unwrap();
    ch.confirm_select(Default::default()).await.unwrap();
    let payload = "x".repeat(64);
    let mut pending = Vec::with_capacity(1000);
    for i in 0..n {
        let mut headers = FieldTable::default();
        let traceparent = format!("00-{:016x}{:016x}-{:016x}-01", i + 1, n, i + 7);
        headers.insert(
            "traceparent".into(),
            AMQPValue::LongString(traceparent.into()),
        );
        let body = format!(r#"{{"id": {i}, "payload": "{payload}"}}"#);
        let confirm = ch
            .basic_publish(
                "".into(),
                queue.into(),
                Default::default(),
                body.as_bytes(),
                BasicProperties::default().with_headers(headers),
            )
            .await
            .unwrap();
        pending.push(confirm);
        if pending.len() == 1000 || i + 1 == n {
            for c in pending.drain(..) {
                c.await.unwrap();
            }
        }
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// A local OTLP/HTTP receiver: its URL, and (requests, bytes) so far.
async fn receiver() -> (String, Arc<(AtomicU64, AtomicU64)>) {
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let seen = counts.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                seen.0.fetch_add(1, Ordering::Relaxed);
                seen.1.fetch_add(body.len() as u64, Ordering::Relaxed);
                // An empty ExportTraceServiceResponse.
                [("content-type", "application/x-protobuf")]
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, counts)
}

/// Runs `exe child-worker` on the pre-filled queue with `env`.
fn child(exe: &str, n: u64, prefetch: u16, env: &[(&str, &str)]) -> Sample {
    let out = std::process::Command::new(exe)
        .args(["child-worker", &n.to_string(), &prefetch.to_string()])
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("sample "))
        .unwrap_or_else(|| {
            panic!(
                "{exe} child-worker printed no sample: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let f: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    Sample {
        rate: f[0],
        cpu_us_per_msg: f[1],
        allocs_per_msg: f[2],
    }
}

/// The parent of `--otel`.
pub(crate) fn rows(rt: &tokio::runtime::Runtime, n: u64, rounds: u64, prefetch: u16) {
    if !worker::__private_0_1_0::OTEL_BUILT {
        panic!("--otel needs this program built with the `otel` feature: run scripts/bench-amqp --otel");
    }
    let plain = std::env::var("WORKER_BENCH_PLAIN").expect(
        "WORKER_BENCH_PLAIN: the path of this bench built without `otel` (scripts/bench-amqp --otel sets it)",
    );
    let me = std::env::current_exe().unwrap();
    let me = me.to_str().unwrap();
    let (url, counts) = rt.block_on(receiver());
    let modes: [(&str, &str, Option<&str>); 3] = [
        ("feature off", plain.as_str(), None),
        ("otel, sampler off", me, Some("always_off")),
        ("otel, always on", me, Some("always_on")),
    ];
    let mut samples: Vec<Vec<Sample>> = modes.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        for (i, (name, exe, sampler)) in modes.iter().enumerate() {
            super::prepublish_with("publish-traced", n, "bench_b500");
            let mut env = vec![("WORKER_LOG", "warn")];
            if let Some(s) = sampler {
                env.extend([
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
                    ("OTEL_TRACES_SAMPLER", s),
                ]);
            }
            let s = child(exe, n, prefetch, &env);
            println!("round {round} bulk 500: {name:<18} {:>8.0} msg/s", s.rate);
            samples[i].push(s);
        }
    }
    println!("\n{n} traced messages at bulk 500, prefetch {prefetch}, {rounds} rounds interleaved; medians:");
    println!(
        "{:<20} {:>10} {:>11} {:>11} {:>9}",
        "worker", "msg/s", "CPU us/msg", "allocs/msg", "ratio"
    );
    let base = median(samples[0].iter().map(|s| s.rate));
    for ((name, _, _), s) in modes.iter().zip(&samples) {
        let rate = median(s.iter().map(|x| x.rate));
        let cpu = median(s.iter().map(|x| x.cpu_us_per_msg));
        let allocs = median(s.iter().map(|x| x.allocs_per_msg));
        println!(
            "{name:<20} {rate:>10.0} {cpu:>11.1} {allocs:>11.1} {:>8.2}x",
            rate / base
        );
    }
    println!(
        "OTLP receiver: {} export requests, {} KiB",
        counts.0.load(Ordering::Relaxed),
        counts.1.load(Ordering::Relaxed) / 1024
    );
}
