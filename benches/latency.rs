//! Latency under a steady load: a publisher sends 5 000 msg/s for 20 s to
//! the local RabbitMQ, each message carrying its publish time; the consumer
//! records publish-to-handler latency for every message. Consumers, one
//! after the other and interleaved over rounds:
//!
//! - raw lapin, acking each message (the baseline);
//! - a `#[route(amqp)]` worker at bulk 1;
//! - a worker at bulk 100 with `bulk_flush_interval = "10ms"`: batches are
//!   partial at this rate, so each one waits for its deadline; the runtime's
//!   `flush_delay` histogram says how late after its deadline each batch
//!   reached the handler.
//!
//! ```sh
//! scripts/bench-latency           # --seconds 20 --rate 5000 --rounds 3
//! ```
//!
//! (`cargo bench --bench latency -- ARGS`; without `--bench` it only says
//! what it is.)

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicPublishOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use support::median;
use worker::{route, Message};

mod support;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[derive(serde::Deserialize)]
struct Stamped {
    ts: u64,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Publish-to-handler latencies of the current run, in nanoseconds.
static LATENCIES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn record(ts: u64) {
    let latency = now_nanos().saturating_sub(ts);
    LATENCIES.lock().unwrap().push(latency);
}

#[route(amqp, queues = ["bench_lat_b1"], bulk_size = 1, prefetch = 1024)]
async fn bulk_1(msgs: Vec<Message<Stamped>>) {
    for m in &msgs {
        record(m.body().ts);
    }
}

#[route(amqp, queues = ["bench_lat_b100"], bulk_size = 100, bulk_flush_interval = "10ms",
        prefetch = 1024)]
async fn bulk_100(msgs: Vec<Message<Stamped>>) {
    for m in &msgs {
        record(m.body().ts);
    }
}

async fn connect() -> Connection {
    Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (run scripts/rabbitmq start)")
}

async fn fresh(queue: &str) {
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_purge(queue.into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    let _ = conn.close(200, "bye".into()).await;
}

/// Publishes `rate` messages per second for `secs` seconds, in steps of
/// one millisecond; returns how many it sent.
async fn publish(queue: &'static str, rate: u64, secs: u64) -> u64 {
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = rate * secs;
    let mut sent = 0u64;
    let started = tokio::time::Instant::now();
    while sent < total {
        tick.tick().await;
        let due = (started.elapsed().as_micros() as u64 * rate / 1_000_000).min(total);
        while sent < due {
            let body = format!(r#"{{"ts": {}}}"#, now_nanos());
            let _confirm = ch
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    BasicProperties::default(),
                )
                .await
                .unwrap();
            sent += 1;
        }
    }
    let _ = conn.close(200, "bye".into()).await;
    total
}

/// Percentiles (p50, p99, max) of the recorded latencies, in ms.
fn percentiles(expected: u64) -> (f64, f64, f64) {
    let mut v = std::mem::take(&mut *LATENCIES.lock().unwrap());
    assert_eq!(v.len() as u64, expected, "every message recorded once");
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize] as f64 / 1e6;
    (at(0.5), at(0.99), at(1.0))
}

async fn wait_recorded(n: u64) {
    while (LATENCIES.lock().unwrap().len() as u64) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn raw(rate: u64, secs: u64) -> (f64, f64, f64) {
    let queue = "bench_lat_raw";
    fresh(queue).await;
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    let mut consumer = support::raw_consumer(&ch, queue, 1024).await;
    let publisher = tokio::spawn(publish(queue, rate, secs));
    let total = rate * secs;
    for _ in 0..total {
        let d = consumer.next().await.unwrap().unwrap();
        let stamped: Stamped = serde_json::from_slice(&d.data).unwrap();
        record(stamped.ts);
        ch.basic_ack(d.delivery_tag, BasicAckOptions::default())
            .await
            .unwrap();
    }
    publisher.await.unwrap();
    let _ = conn.close(200, "bye".into()).await;
    percentiles(total)
}

/// How late deadline-flushed batches reached the handler: the share within
/// 1 ms and within 2 ms of their deadline, the upper bound (ms) of the
/// histogram bucket holding the 99th percentile, and the batch count.
#[derive(Clone, Copy)]
struct Accuracy {
    within_1ms: f64,
    within_2ms: f64,
    p99_bound_ms: f64,
    batches: u64,
}

fn accuracy(delay: &worker::runtime::HistogramSnapshot) -> Option<Accuracy> {
    let share = |bound: f64| {
        let within = delay
            .buckets
            .iter()
            .find(|(b, _)| (*b - bound).abs() < 1e-9)
            .map_or(0, |(_, c)| *c);
        within as f64 / delay.count as f64
    };
    let p99 = delay
        .buckets
        .iter()
        .find(|(_, c)| *c as f64 >= 0.99 * delay.count as f64)
        .map_or(f64::INFINITY, |(b, _)| *b * 1000.0);
    (delay.count > 0).then(|| Accuracy {
        within_1ms: share(0.001),
        within_2ms: share(0.002),
        p99_bound_ms: p99,
        batches: delay.count,
    })
}

/// Sleeps 10 ms deadlines one after the other, recording how late each
/// wake-up is.
async fn timer_probe(late: std::sync::Arc<worker::runtime::DelayHistogram>) {
    loop {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(10);
        tokio::time::sleep_until(deadline).await;
        late.observe(tokio::time::Instant::now().saturating_duration_since(deadline));
    }
}

/// The worker route `route`: its latencies, how late its deadline-flushed
/// batches were, and how late a bare timer was meanwhile.
async fn worker(
    route: &'static str,
    queue: &'static str,
    rate: u64,
    secs: u64,
) -> ((f64, f64, f64), Option<(Accuracy, Accuracy)>) {
    fresh(queue).await;
    let app = worker::App::new();
    let runtime = support::worker_runtime(&[route], URL, &[], &app);
    let stats = runtime.stats().clone();
    let task = tokio::spawn(runtime.run());
    worker_testkit::wait_until("the route to consume", Duration::from_secs(20), || {
        stats.route(route, "amqp").is_ready()
    })
    .await;
    // The floor: a bare tokio timer on the same runtime under the same
    // load, as late after its deadline as the machine makes it.
    let probe = std::sync::Arc::new(worker::runtime::DelayHistogram::default());
    let timer = tokio::spawn(timer_probe(probe.clone()));
    let total = publish(queue, rate, secs).await;
    wait_recorded(total).await;
    timer.abort();
    let delay = stats.route(route, "amqp").flush_delay.snapshot();
    let floor = accuracy(&probe.snapshot());
    app.shutdown();
    task.await.unwrap().unwrap();
    (percentiles(total), accuracy(&delay).zip(floor))
}

fn main() {
    let Some(args) = support::Args::of_bench("latency", "bench-latency") else {
        return;
    };
    let secs = args.number("--seconds").unwrap_or(20);
    let rate = args.number("--rate").unwrap_or(5000);
    let rounds = args.number("--rounds").unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut raws, mut b1s, mut b100s, mut accuracies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        raws.push(rt.block_on(raw(rate, secs)));
        b1s.push(rt.block_on(worker("bulk_1", "bench_lat_b1", rate, secs)).0);
        let (lat, accuracy) = rt.block_on(worker("bulk_100", "bench_lat_b100", rate, secs));
        b100s.push(lat);
        accuracies.extend(accuracy);
    }
    let med = |v: &[(f64, f64, f64)]| {
        (
            median(v.iter().map(|s| s.0)),
            median(v.iter().map(|s| s.1)),
            median(v.iter().map(|s| s.2)),
        )
    };
    println!("{rate} msg/s for {secs} s, publish-to-handler latency in ms, {rounds} rounds interleaved; medians:");
    println!("{:<42} {:>8} {:>8} {:>8}", "consumer", "p50", "p99", "max");
    let (r, b1, b100) = (med(&raws), med(&b1s), med(&b100s));
    for (name, s) in [
        ("raw lapin, ack per message", r),
        ("worker bulk 1", b1),
        ("worker bulk 100, bulk_flush_interval 10ms", b100),
    ] {
        println!("{name:<42} {:>8.2} {:>8.2} {:>8.2}", s.0, s.1, s.2);
    }
    println!(
        "worker bulk 1 / raw: p50 {:.2}x, p99 {:.2}x",
        b1.0 / r.0,
        b1.1 / r.1
    );
    if !accuracies.is_empty() {
        for (name, pick) in [
            ("bulk 100 deadline flushes", 0),
            ("a bare tokio timer meanwhile", 1),
        ] {
            let m = |f: fn(&Accuracy) -> f64| {
                median(
                    accuracies
                        .iter()
                        .map(|a: &(Accuracy, Accuracy)| f(if pick == 0 { &a.0 } else { &a.1 })),
                )
            };
            println!(
                "{name}: {:.0} deadlines, {:.2}% reached within 1 ms, {:.2}% within 2 ms; p99 <= {} ms",
                m(|a| a.batches as f64),
                m(|a| a.within_1ms) * 100.0,
                m(|a| a.within_2ms) * 100.0,
                m(|a| a.p99_bound_ms)
            );
        }
    }
}
