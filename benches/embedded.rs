//! The embedded broker's throughput, which every test of a worker pays:
//! 1 000 000 messages published into a `memory://` broker, then consumed
//! and acked by a `#[route(amqp)]` worker at bulk 500, in-process; beside
//! the floor of the same payloads handed over a `tokio::sync::mpsc`
//! channel and received 500 at a time. Interleaved rounds, medians.
//!
//! ```sh
//! scripts/bench-embedded            # --messages 1000000 --rounds 5
//! ```
//!
//! (`cargo bench --bench embedded -- ARGS`; without `--bench` it only says
//! what it is.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::IgnoredAny;
use support::median;
use worker::memory::MemoryBroker;
use worker::{route, Message, Properties};

mod support;

static HANDLED: AtomicU64 = AtomicU64::new(0);

#[route(amqp, queues = ["embedded"], bulk_size = 500, bulk_flush_interval = "100ms",
        declare = true, prefetch = 1000)]
async fn drain(msgs: Vec<Message<IgnoredAny>>) {
    HANDLED.fetch_add(msgs.len() as u64, Ordering::Relaxed);
}

fn payload(i: u64) -> Vec<u8> {
    format!(r#"{{"id": {i}, "payload": "{}"}}"#, "x".repeat(64)).into_bytes()
}

/// Seconds to publish `n` messages, and to consume and ack them all.
struct Sample {
    publish: f64,
    drain: f64,
}

async fn embedded(n: u64, round: u64) -> Sample {
    let url = format!("memory://bench-embedded-{round}");
    HANDLED.store(0, Ordering::Relaxed);
    let app = worker::App::new();
    let runtime = worker_testkit::runtime(&["drain"], [("WORKER_AMQP_URL", url.as_str())])
        .backends(worker::backends())
        .app(app.clone())
        .build();
    let broker = MemoryBroker::shared(&url);
    let bodies: Vec<Vec<u8>> = (0..n).map(payload).collect();
    // The route declares its queue when it starts; publish first into a
    // queue declared the same way, so that the drain is measured alone.
    broker
        .declare_queue("embedded", worker::QueueOptions::durable())
        .unwrap();
    let started = Instant::now();
    for body in bodies {
        broker
            .publish("", "embedded", body, Properties::default())
            .unwrap();
    }
    let publish = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let task = tokio::spawn(runtime.run());
    while HANDLED.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let drain = started.elapsed().as_secs_f64();
    app.shutdown();
    task.await.unwrap().unwrap();
    Sample { publish, drain }
}

async fn mpsc_floor(n: u64) -> Sample {
    let bodies: Vec<Vec<u8>> = (0..n).map(payload).collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let started = Instant::now();
    for body in bodies {
        tx.send(body).unwrap();
    }
    drop(tx);
    let publish = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let consumer = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(500);
        let mut got = 0u64;
        while rx.recv_many(&mut batch, 500).await > 0 {
            got += batch.len() as u64;
            batch.clear();
        }
        got
    });
    assert_eq!(consumer.await.unwrap(), n);
    let drain = started.elapsed().as_secs_f64();
    Sample { publish, drain }
}

fn main() {
    let Some(args) = support::Args::of_bench("embedded", "bench-embedded") else {
        return;
    };
    let n = args.number("--messages").unwrap_or(1_000_000);
    let rounds = args.number("--rounds").unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut worker = Vec::new();
    let mut floor = Vec::new();
    for round in 0..rounds {
        worker.push(rt.block_on(embedded(n, round)));
        floor.push(rt.block_on(mpsc_floor(n)));
    }
    println!("{n} messages of 80 bytes, bulk 500, {rounds} rounds interleaved; medians:");
    println!(
        "{:<34} {:>14} {:>18} {:>14}",
        "", "publish msg/s", "consume+ack msg/s", "total msg/s"
    );
    let row = |name: &str, s: &[Sample]| {
        let publish = median(s.iter().map(|s| s.publish));
        let drain = median(s.iter().map(|s| s.drain));
        println!(
            "{name:<34} {:>14.0} {:>18.0} {:>14.0}",
            n as f64 / publish,
            n as f64 / drain,
            n as f64 / (publish + drain)
        );
        (publish, drain)
    };
    let (wp, wd) = row("embedded broker + worker route", &worker);
    let (fp, fd) = row("tokio mpsc (floor)", &floor);
    println!(
        "embedded / floor: publish {:.2}x, consume+ack {:.2}x, total {:.2}x",
        fp / wp,
        fd / wd,
        (fp + fd) / (wp + wd)
    );
}
