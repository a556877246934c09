//! Throughput benchmark: the same RabbitMQ queue drained by (a) a raw lapin
//! loop, (b) a `#[route(amqp)]` worker at several bulk sizes, and (c) Python
//! asyncworker 0.20.2, interleaved over several rounds; prints msg/s, client
//! CPU per message and the ratios.
//!
//! ```sh
//! scripts/bench-amqp                     # N=100000, 3 rounds, prefetch 1024
//! scripts/bench-amqp --soak 1000000      # RSS while draining 1M messages
//! ```
//!
//! (`cargo bench --bench amqp -- ARGS`; run without `--bench`, as
//! `cargo test --all-targets` does, it only says what it is.)
//!
//! Messages are pre-published by a child process (this program with the
//! `publish` argument) so the measuring process never publishes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use support::median;
use tokio::sync::Notify;
use worker::{route, Message};

mod support;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

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
        async fn $name(msgs: Vec<Message>) {
            count(msgs.len());
        }
    };
}

bulk_route! { bulk_1, "bench_b1", 1 }
bulk_route! { bulk_10, "bench_b10", 10 }
bulk_route! { bulk_100, "bench_b100", 100 }
bulk_route! { bulk_500, "bench_b500", 500 }

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
    Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (run scripts/rabbitmq start)")
}

/// Child mode: declare + purge `queue`, publish `n` messages with confirms.
async fn publish(n: u64, queue: &str) {
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
    let payload = "x".repeat(64);
    support::publish_confirmed(&ch, queue, n, BasicProperties::default(), |i| {
        format!(r#"{{"id": {i}, "payload": "{payload}"}}"#)
    })
    .await;
    let _ = conn.close(200, "bye".into()).await;
}

fn prepublish(n: u64, queue: &str) {
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args(["publish", &n.to_string(), queue])
        .status()
        .unwrap();
    assert!(status.success(), "publisher failed");
}

struct Sample {
    rate: f64,
    cpu_us_per_msg: f64,
}

async fn raw_lapin(n: u64, bulk: u64, prefetch: u16) -> Sample {
    let queue = "bench_raw";
    prepublish(n, queue);
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(prefetch, BasicQosOptions { global: false })
        .await
        .unwrap();
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let cpu0 = cpu_ticks(false);
    let mut started = None;
    let mut got = 0u64;
    while let Some(d) = consumer.next().await {
        let d = d.unwrap();
        started.get_or_insert_with(Instant::now);
        got += 1;
        if got % bulk == 0 || got == n {
            ch.basic_ack(d.delivery_tag, BasicAckOptions { multiple: true })
                .await
                .unwrap();
        }
        if got == n {
            break;
        }
    }
    let elapsed = started.unwrap().elapsed();
    let cpu = cpu_ticks(false) - cpu0;
    let _ = conn.close(200, "bye".into()).await;
    Sample {
        rate: n as f64 / elapsed.as_secs_f64(),
        cpu_us_per_msg: cpu as f64 * 10_000.0 / n as f64,
    }
}

async fn run_worker(route_name: &str, queue: &str, n: u64, prefetch: u16, soak: bool) -> Sample {
    prepublish(n, queue);
    PROGRESS.handled.store(0, Ordering::Relaxed);
    PROGRESS.target.store(n, Ordering::Relaxed);
    *PROGRESS.started.lock().unwrap() = None;
    *PROGRESS.finished.lock().unwrap() = None;
    let app = worker::App::new();
    let vars = [
        ("WORKER_AMQP_URL", URL.to_owned()),
        ("WORKER_AMQP_PREFETCH", prefetch.to_string()),
    ];
    let rt = worker_testkit::runtime(&[route_name], vars)
        .backends(worker::backends())
        .app(app.clone())
        .build();
    let rss0 = rss_kib();
    let cpu0 = cpu_ticks(false);
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
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let raw_args: Vec<String> = std::env::args().skip(1).collect();
    if raw_args.first().map(String::as_str) == Some("publish") {
        rt.block_on(publish(raw_args[1].parse().unwrap(), &raw_args[2]));
        return;
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
    let bulks: [(u64, &str, &str); 4] = [
        (1, "bulk_1", "bench_b1"),
        (10, "bulk_10", "bench_b10"),
        (100, "bulk_100", "bench_b100"),
        (500, "bulk_500", "bench_b500"),
    ];
    let mut raw: Vec<Vec<Sample>> = (0..4).map(|_| Vec::new()).collect();
    let mut wrk: Vec<Vec<Sample>> = (0..4).map(|_| Vec::new()).collect();
    let mut py = Vec::new();
    for round in 1..=rounds {
        for (i, (bulk, name, queue)) in bulks.iter().enumerate() {
            let a = rt.block_on(raw_lapin(n, *bulk, prefetch));
            let b = rt.block_on(run_worker(name, queue, n, prefetch, false));
            println!(
                "round {round} bulk {bulk:>3}: raw lapin {:>8.0} msg/s, worker {:>8.0} msg/s",
                a.rate, b.rate
            );
            raw[i].push(a);
            wrk[i].push(b);
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
        "{:<12} {:>5} {:>12} {:>14} {:>10}",
        "client", "bulk", "msg/s", "CPU us/msg", "ratio"
    );
    for (i, (bulk, _, _)) in bulks.iter().enumerate() {
        let a = median(raw[i].iter().map(|s| s.rate));
        let b = median(wrk[i].iter().map(|s| s.rate));
        let ac = median(raw[i].iter().map(|s| s.cpu_us_per_msg));
        let bc = median(wrk[i].iter().map(|s| s.cpu_us_per_msg));
        println!(
            "{:<12} {:>5} {:>12.0} {:>14.1} {:>10}",
            "raw lapin", bulk, a, ac, ""
        );
        println!(
            "{:<12} {:>5} {:>12.0} {:>14.1} {:>9.2}x",
            "worker",
            bulk,
            b,
            bc,
            b / a
        );
    }
    if !py.is_empty() {
        let c = median(py.iter().map(|s| s.rate));
        let cc = median(py.iter().map(|s| s.cpu_us_per_msg));
        let b = median(wrk[3].iter().map(|s| s.rate));
        println!(
            "{:<12} {:>5} {:>12.0} {:>14.1} {:>10}",
            "asyncworker", 500, c, cc, ""
        );
        println!("worker/asyncworker at bulk 500: {:.2}x", b / c);
    }
}
