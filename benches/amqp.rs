//! Throughput benchmark: the same RabbitMQ queue drained by (a) a raw lapin
//! loop, (b) a `#[route(amqp)]` worker at several bulk sizes, and (c) Python
//! asyncworker 0.20.2, interleaved over several rounds; then a quorum queue
//! drained at bulk 500 by raw lapin and by the worker. Prints msg/s, the
//! client's CPU and heap allocations per message (a counting global
//! allocator), and the ratios.
//!
//! Raw lapin acks the way the worker does: one multiple-ack per batch of
//! `bulk` messages; at bulk 1 that is an ack per message, the consumer a
//! user writes first. Both sides parse each body as JSON into
//! `serde::de::IgnoredAny` (the routes take `Message<IgnoredAny>`), so the
//! comparison is the framework's own cost, not that of building a
//! `serde_json::Value`. At bulk 1 a third client is the raw loop acking
//! the way the worker's RabbitMQ channel does: the ack returns once its
//! frame is queued, without waiting for lapin's I/O thread to write it.
//!
//! ```sh
//! scripts/bench-amqp                     # N=100000, 3 rounds, prefetch 1024
//! scripts/bench-amqp --soak 1000000      # RSS while draining 1M messages
//! scripts/bench-amqp --bulks 1 --no-quorum --no-peer   # one case
//! scripts/bench-amqp --bulks 1 --profile worker        # one client alone (for perf): raw,
//!                                                      # raw-queued, raw-spawned (the loop in a task) or worker
//! scripts/bench-amqp --otel              # tracing's cost at bulk 500 (benches/otel/rows.rs)
//! ```
//!
//! (`cargo bench --bench amqp -- ARGS`; run without `--bench`, as
//! `cargo test --all-targets` does, it only says what it is.)
//!
//! Messages are pre-published by a child process (this program with the
//! `publish` argument) so the measuring process never publishes.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, QueueDeclareOptions, QueuePurgeOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde::de::IgnoredAny;
use support::median;
use tokio::sync::Notify;
use worker::{route, Message};

#[path = "otel/rows.rs"]
mod otel_rows;
mod support;

#[global_allocator]
static ALLOCATOR: support::CountingAllocator = support::CountingAllocator;

/// The broker: `WORKER_TEST_AMQP_URL` (scripts/bench-amqp sets it to the
/// node of `RABBITMQ_VERSION`, default 4.3), else the local 4.3 node.
fn url() -> String {
    std::env::var("WORKER_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

struct Progress {
    handled: AtomicU64,
    target: AtomicU64,
    started: std::sync::Mutex<Option<Instant>>,
    finished: std::sync::Mutex<Option<Instant>>,
    done: Notify,
}

static PROGRESS: Progress = Progress {
    handled: AtomicU64::new(0),
    target: AtomicU64::new(u64::MAX),
    started: std::sync::Mutex::new(None),
    finished: std::sync::Mutex::new(None),
    done: Notify::const_new(),
};

fn count(n: usize) {
    PROGRESS
        .started
        .lock()
        .unwrap()
        .get_or_insert_with(Instant::now);
    let total = PROGRESS.handled.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
    if total >= PROGRESS.target.load(Ordering::Relaxed) {
        *PROGRESS.finished.lock().unwrap() = Some(Instant::now());
        PROGRESS.done.notify_one();
    }
}

/// One worker route per bulk size, all counting what they handle.
macro_rules! bulk_route {
    ($name:ident, $queue:tt, $bulk:tt) => {
        #[route(amqp, queues = [$queue], bulk_size = $bulk, bulk_flush_interval = "1s")]
        async fn $name(msgs: Vec<Message<IgnoredAny>>) {
            count(msgs.len());
        }
    };
}

bulk_route! { bulk_1, "bench_b1", 1 }
bulk_route! { bulk_10, "bench_b10", 10 }
bulk_route! { bulk_100, "bench_b100", 100 }
bulk_route! { bulk_500, "bench_b500", 500 }

#[route(amqp, queues = ["bench_q500"], bulk_size = 500, bulk_flush_interval = "1s",
        queue_type = quorum)]
async fn quorum_500(msgs: Vec<Message<IgnoredAny>>) {
    count(msgs.len());
}

fn cpu_ticks(children: bool) -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14).
    if children {
        f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0)
    } else {
        f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
    }
}

fn rss_kib() -> u64 {
    worker_testkit::rss_kib(std::process::id())
}

async fn connect() -> Connection {
    Connection::connect(&url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ at WORKER_TEST_AMQP_URL (run scripts/rabbitmq start)")
}

/// Child mode: declare + purge `queue` (a durable quorum queue when its
/// name says `_q`), publish `n` messages with confirms.
async fn publish(n: u64, queue: &str) {
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    let (options, args) = queue_declaration(queue);
    ch.queue_declare(queue.into(), options, args).await.unwrap();
    ch.queue_purge(queue.into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    let payload = "x".repeat(64);
    support::publish_confirmed(&ch, queue, n, BasicProperties::default(), |i| {
        format!(r#"{{"id": {i}, "payload": "{payload}"}}"#)
    })
    .await;
    let _ = conn.close(200, "bye".into()).await;
}

fn queue_declaration(queue: &str) -> (QueueDeclareOptions, FieldTable) {
    if !queue.contains("_q") {
        return (QueueDeclareOptions::default(), FieldTable::default());
    }
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    (durable, args)
}

fn prepublish(n: u64, queue: &str) {
    prepublish_with("publish", n, queue);
}

/// Fills `queue` from a child process: this program in `mode` (`publish`,
/// or `publish-traced` for messages with a `traceparent`).
fn prepublish_with(mode: &str, n: u64, queue: &str) {
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args([mode, &n.to_string(), queue])
        .status()
        .unwrap();
    assert!(status.success(), "publisher failed");
}

struct Sample {
    rate: f64,
    cpu_us_per_msg: f64,
    allocs_per_msg: f64,
}

/// How the raw loop acks: awaiting each `basic_ack` until lapin's I/O
/// thread wrote it (what lapin's examples do), or returning once the frame
/// is queued, as the worker's RabbitMQ channel does.
#[derive(Clone, Copy, PartialEq)]
enum RawAcks {
    Awaited,
    Queued,
}

async fn raw_lapin(queue: &str, n: u64, bulk: u64, prefetch: u16) -> Sample {
    raw_lapin_acking(queue, n, bulk, prefetch, RawAcks::Awaited).await
}

async fn raw_lapin_acking(queue: &str, n: u64, bulk: u64, prefetch: u16, acks: RawAcks) -> Sample {
    prepublish(n, queue);
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    let mut consumer = support::raw_consumer(&ch, queue, prefetch).await;
    let cpu0 = cpu_ticks(false);
    let allocs0 = support::allocations();
    let mut started = None;
    let mut got = 0u64;
    while let Some(d) = consumer.next().await {
        let d = d.unwrap();
        started.get_or_insert_with(Instant::now);
        // The same JSON validation the worker's routes do.
        serde_json::from_slice::<IgnoredAny>(&d.data).expect("a JSON body");
        got += 1;
        if got % bulk == 0 || got == n {
            let ack = ch.basic_ack(d.delivery_tag, BasicAckOptions { multiple: true });
            if acks == RawAcks::Queued {
                // The first poll queues the frame; the wait for its write
                // is dropped.
                let mut ack = std::pin::pin!(ack);
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                if let std::task::Poll::Ready(r) = ack.as_mut().poll(&mut cx) {
                    r.unwrap();
                }
            } else {
                ack.await.unwrap();
            }
        }
        if got == n {
            break;
        }
    }
    let elapsed = started.unwrap().elapsed();
    let cpu = cpu_ticks(false) - cpu0;
    let allocs = support::allocations() - allocs0;
    let _ = conn.close(200, "bye".into()).await;
    Sample {
        rate: n as f64 / elapsed.as_secs_f64(),
        cpu_us_per_msg: cpu as f64 * 10_000.0 / n as f64,
        allocs_per_msg: allocs as f64 / n as f64,
    }
}

async fn run_worker(route_name: &str, queue: &str, n: u64, prefetch: u16, soak: bool) -> Sample {
    prepublish(n, queue);
    drain(route_name, n, prefetch, soak).await
}

/// Runs the worker on the route's pre-filled queue until `n` are handled.
async fn drain(route_name: &str, n: u64, prefetch: u16, soak: bool) -> Sample {
    PROGRESS.handled.store(0, Ordering::Relaxed);
    PROGRESS.target.store(n, Ordering::Relaxed);
    *PROGRESS.started.lock().unwrap() = None;
    *PROGRESS.finished.lock().unwrap() = None;
    let app = worker::App::new();
    let vars = [("WORKER_AMQP_PREFETCH", prefetch.to_string())];
    let rt = support::worker_runtime(&[route_name], &url(), &vars, &app);
    let rss0 = rss_kib();
    let cpu0 = cpu_ticks(false);
    let allocs0 = support::allocations();
    let task = tokio::spawn(rt.run());
    let sampler = soak.then(|| {
        tokio::spawn(async {
            let mut max = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                max = max.max(rss_kib());
                if PROGRESS.finished.lock().unwrap().is_some() {
                    return max;
                }
            }
        })
    });
    PROGRESS.done.notified().await;
    let cpu = cpu_ticks(false) - cpu0;
    let allocs = support::allocations() - allocs0;
    let elapsed =
        PROGRESS.finished.lock().unwrap().unwrap() - PROGRESS.started.lock().unwrap().unwrap();
    app.shutdown();
    task.await.unwrap().unwrap();
    if let Some(s) = sampler {
        let max = s.await.unwrap();
        println!(
            "soak: {n} messages at bulk 500: RSS before {} MiB, max while draining {} MiB, after {} MiB",
            rss0 / 1024,
            max / 1024,
            rss_kib() / 1024
        );
    }
    Sample {
        rate: n as f64 / elapsed.as_secs_f64(),
        cpu_us_per_msg: cpu as f64 * 10_000.0 / n as f64,
        allocs_per_msg: allocs as f64 / n as f64,
    }
}

fn asyncworker(n: u64, bulk: u64, prefetch: u16) -> Option<Sample> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-peers/bin/python");
    let peers = std::env::var("WORKER_PEERS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared/peers"));
    if !python.exists() || !peers.exists() {
        eprintln!("asyncworker skipped: run scripts/peers (and keep ../shared/peers)");
        return None;
    }
    prepublish(n, "bench_py");
    let cpu0 = cpu_ticks(true);
    let out = std::process::Command::new(python)
        .arg(peers.join("asyncworker_consume.py"))
        .args([
            n.to_string(),
            "bench_py".into(),
            bulk.to_string(),
            prefetch.to_string(),
        ])
        .output()
        .ok()?;
    let cpu = cpu_ticks(true) - cpu0;
    let text = String::from_utf8_lossy(&out.stdout);
    let rate: f64 = text
        .split("= ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Sample {
        rate,
        cpu_us_per_msg: cpu as f64 * 10_000.0 / n as f64,
        allocs_per_msg: f64::NAN,
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let raw_args: Vec<String> = std::env::args().skip(1).collect();
    match raw_args.first().map(String::as_str) {
        Some("publish") => return rt.block_on(publish(raw_args[1].parse().unwrap(), &raw_args[2])),
        Some("publish-traced") => {
            return rt.block_on(otel_rows::publish_traced(
                raw_args[1].parse().unwrap(),
                &raw_args[2],
            ))
        }
        Some("child-worker") => return child_worker(&rt, &raw_args),
        _ => {}
    }
    let Some(args) = support::Args::of_bench("amqp", "bench-amqp") else {
        return;
    };
    let flag = |name: &str| args.number(name);
    if let Some(n) = flag("--soak") {
        rt.block_on(run_worker("bulk_500", "bench_b500", n, 1024, true));
        return;
    }
    let n = flag("--messages").unwrap_or(100_000);
    let rounds = flag("--rounds").unwrap_or(3);
    let prefetch = flag("--prefetch").unwrap_or(1024) as u16;
    let peer = !args.has("--no-peer");
    let quorum = !args.has("--no-quorum");
    let all: [(u64, &str, &str); 4] = [
        (1, "bulk_1", "bench_b1"),
        (10, "bulk_10", "bench_b10"),
        (100, "bulk_100", "bench_b100"),
        (500, "bulk_500", "bench_b500"),
    ];
    let chosen = args.numbers("--bulks");
    let bulks: Vec<_> = all
        .into_iter()
        .filter(|(b, _, _)| chosen.as_ref().is_none_or(|c| c.contains(b)))
        .collect();
    assert!(!bulks.is_empty(), "--bulks takes some of 1, 10, 100, 500");
    if args.has("--otel") {
        return otel_rows::rows(&rt, n, rounds, prefetch);
    }
    if let Some(client) = args.value("--profile") {
        // One client alone, for a profiler wrapped around this program.
        let (bulk, name, queue) = bulks[0];
        let s = match client {
            "raw" => rt.block_on(raw_lapin("bench_raw", n, bulk, prefetch)),
            "raw-queued" => rt.block_on(raw_lapin_acking(
                "bench_raw",
                n,
                bulk,
                prefetch,
                RawAcks::Queued,
            )),
            "raw-spawned" => rt
                .block_on(async { tokio::spawn(raw_lapin("bench_raw", n, bulk, prefetch)).await })
                .unwrap(),
            "worker" => rt.block_on(run_worker(name, queue, n, prefetch, false)),
            other => {
                panic!("--profile takes raw, raw-queued, raw-spawned or worker, not `{other}`")
            }
        };
        println!(
            "{client} bulk {bulk}: {:.0} msg/s, {:.1} us CPU/msg, {:.1} allocs/msg",
            s.rate, s.cpu_us_per_msg, s.allocs_per_msg
        );
        return;
    }
    let mut raw: Vec<Vec<Sample>> = bulks.iter().map(|_| Vec::new()).collect();
    let mut wrk: Vec<Vec<Sample>> = bulks.iter().map(|_| Vec::new()).collect();
    let (mut quorum_raw, mut quorum_wrk) = (Vec::new(), Vec::new());
    let mut raw_queued = Vec::new();
    let mut py = Vec::new();
    for round in 1..=rounds {
        for (i, (bulk, name, queue)) in bulks.iter().enumerate() {
            let a = rt.block_on(raw_lapin("bench_raw", n, *bulk, prefetch));
            let b = rt.block_on(run_worker(name, queue, n, prefetch, false));
            println!(
                "round {round} bulk {bulk:>3}: raw lapin {:>8.0} msg/s, worker {:>8.0} msg/s",
                a.rate, b.rate
            );
            raw[i].push(a);
            wrk[i].push(b);
            if *bulk == 1 {
                let c = rt.block_on(raw_lapin_acking(
                    "bench_raw",
                    n,
                    1,
                    prefetch,
                    RawAcks::Queued,
                ));
                println!(
                    "round {round} bulk   1: raw lapin, acks queued {:>8.0} msg/s",
                    c.rate
                );
                raw_queued.push(c);
            }
        }
        if quorum {
            let a = rt.block_on(raw_lapin("bench_raw_q", n, 500, prefetch));
            let b = rt.block_on(run_worker("quorum_500", "bench_q500", n, prefetch, false));
            println!(
                "round {round} quorum bulk 500: raw lapin {:>8.0} msg/s, worker {:>8.0} msg/s",
                a.rate, b.rate
            );
            quorum_raw.push(a);
            quorum_wrk.push(b);
        }
        if peer {
            if let Some(c) = asyncworker(n, 500, prefetch) {
                println!("round {round} bulk 500: asyncworker {:>8.0} msg/s", c.rate);
                py.push(c);
            }
        }
    }
    println!("\n{n} messages, prefetch {prefetch}, {rounds} rounds interleaved; medians:");
    println!(
        "{:<20} {:>5} {:>10} {:>11} {:>11} {:>9}",
        "client", "bulk", "msg/s", "CPU us/msg", "allocs/msg", "ratio"
    );
    let row = |client: &str, bulk: u64, s: &[Sample], base: Option<f64>| {
        let rate = median(s.iter().map(|x| x.rate));
        let cpu = median(s.iter().map(|x| x.cpu_us_per_msg));
        let allocs = median(s.iter().map(|x| x.allocs_per_msg));
        let ratio = base.map_or(String::new(), |b| format!("{:.2}x", rate / b));
        println!("{client:<20} {bulk:>5} {rate:>10.0} {cpu:>11.1} {allocs:>11.1} {ratio:>9}");
        (rate, cpu, allocs)
    };
    let mut rates = std::collections::BTreeMap::new();
    for (i, (bulk, _, _)) in bulks.iter().enumerate() {
        let (a, ac, aa) = row("raw lapin", *bulk, &raw[i], None);
        let (b, bc, ba) = row("worker", *bulk, &wrk[i], Some(a));
        println!(
            "{:<20} {:>5} {:>10} {:>10.2}x {:>+11.1}",
            "  worker - raw",
            bulk,
            "",
            bc / ac,
            ba - aa
        );
        rates.insert(*bulk, (a, b));
        if *bulk == 1 && !raw_queued.is_empty() {
            let (c, _, _) = row("raw, acks queued", 1, &raw_queued, Some(a));
            println!(
                "worker at bulk 1 / raw lapin with acks queued: {:.2}x",
                b / c
            );
        }
    }
    if quorum {
        let (qa, _, _) = row("raw lapin, quorum", 500, &quorum_raw, None);
        row("worker, quorum", 500, &quorum_wrk, Some(qa));
    }
    if let (Some((raw1, _)), Some((_, b100))) = (rates.get(&1), rates.get(&100)) {
        println!(
            "worker at bulk 100 / raw lapin acking every message: {:.2}x",
            b100 / raw1
        );
    }
    // Each round runs the pair back to back, so a round's own ratio is
    // less exposed to the machine's drift than the ratio of the medians.
    let paired = |a: &[Sample], b: &[Sample]| median(a.iter().zip(b).map(|(a, b)| b.rate / a.rate));
    let mut own: Vec<String> = bulks
        .iter()
        .enumerate()
        .map(|(i, (bulk, _, _))| format!("bulk {bulk} {:.2}x", paired(&raw[i], &wrk[i])))
        .collect();
    if quorum {
        own.push(format!("quorum {:.2}x", paired(&quorum_raw, &quorum_wrk)));
    }
    println!(
        "worker/raw, median of each round's own ratio: {}",
        own.join(", ")
    );
    if let (false, Some((_, b))) = (py.is_empty(), rates.get(&500)) {
        let c = median(py.iter().map(|s| s.rate));
        let cc = median(py.iter().map(|s| s.cpu_us_per_msg));
        println!("{:<20} {:>5} {:>10.0} {:>11.1}", "asyncworker", 500, c, cc);
        println!("worker/asyncworker at bulk 500: {:.2}x", b / c);
    }
}

/// Child mode `child-worker N PREFETCH` of `--otel`: the bulk-500 route
/// drains its pre-filled queue, with the subscriber (and, built with
/// `otel`, the exporter) the generated binary installs from the
/// environment; prints `sample <msg/s> <CPU us/msg> <allocs/msg>`.
fn child_worker(rt: &tokio::runtime::Runtime, args: &[String]) {
    let config = worker::config::Config::from_env(&Default::default()).unwrap();
    worker::runtime::init_logging(&config).unwrap();
    let (n, prefetch) = (args[1].parse().unwrap(), args[2].parse().unwrap());
    let s = rt.block_on(drain("bulk_500", n, prefetch, false));
    worker::otel::shutdown();
    println!(
        "sample {} {} {}",
        s.rate, s.cpu_us_per_msg, s.allocs_per_msg
    );
}
