//! Batches that fail well: 10 000 messages at bulk 500 with one poison
//! message in every batch, drained by a worker with `bisect = true` and
//! with `bisect = false`, on a classic and on a quorum queue of the local
//! RabbitMQ; and the same drain without poison messages as the baseline.
//!
//! ```sh
//! scripts/bench-bisect            # --messages 10000 --rounds 3
//! ```
//!
//! Every route rejects failed messages into a dead-letter queue
//! (`on_exception = reject`). Prints, per queue type and mode: messages
//! dead-lettered, good messages redelivered, handler calls per failing
//! batch, and the drain time against the run without poison (medians of
//! the rounds, interleaved).
//!
//! (`cargo bench --bench bisect -- ARGS`; without `--bench` it only says
//! what it is.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lapin::{BasicProperties, Connection, ConnectionProperties};
use support::median;
use worker::{route, Error, Message};

mod support;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const BULK: u64 = 500;

#[derive(serde::Deserialize)]
struct Job {
    #[serde(default)]
    poison: bool,
}

static CALLS: AtomicU64 = AtomicU64::new(0);
static GOOD_REDELIVERED: AtomicU64 = AtomicU64::new(0);

fn handle(msgs: &[Message<Job>]) -> Result<(), Error> {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let redelivered = msgs
        .iter()
        .filter(|m| m.redelivered() && !m.body().poison)
        .count();
    GOOD_REDELIVERED.fetch_add(redelivered as u64, Ordering::Relaxed);
    if msgs.iter().any(|m| m.body().poison) {
        return Err(Error::msg("poison message in the batch"));
    }
    Ok(())
}

/// A route per queue type and mode.
macro_rules! bench_route {
    ($name:ident, $queue:tt, $dead:tt, $type:tt, $bisect:tt) => {
        #[route(amqp, queues = [$queue], bulk_size = 500, bulk_flush_interval = "1s",
                                        on_exception = reject, dead_letter = $dead, declare = true,
                                        queue_type = $type, bisect = $bisect, prefetch = 1000)]
        async fn $name(msgs: Vec<Message<Job>>) -> Result<(), Error> {
            handle(&msgs)
        }
    };
}

bench_route! { classic_bisect, "bench_bisect.classic.on", "bench_bisect.classic.on.dead", classic, true }
bench_route! { classic_plain, "bench_bisect.classic.off", "bench_bisect.classic.off.dead", classic, false }
bench_route! { quorum_bisect, "bench_bisect.quorum.on", "bench_bisect.quorum.on.dead", quorum, true }
bench_route! { quorum_plain, "bench_bisect.quorum.off", "bench_bisect.quorum.off.dead", quorum, false }

/// One drain's figures.
#[derive(Debug, Clone, Copy)]
struct Sample {
    dead_lettered: u64,
    good_redelivered: u64,
    calls: u64,
    secs: f64,
}

async fn connect() -> Connection {
    Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ is reachable (scripts/rabbitmq start)")
}

/// Deletes `queue` and its dead-letter queue, and declares `queue` again
/// as its route does (durable, and `x-queue-type = quorum` for quorum).
async fn reset(queue: &str, quorum: bool) {
    use lapin::types::{AMQPValue, FieldTable, LongString};
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    for q in [queue.to_owned(), format!("{queue}.dead")] {
        let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
    }
    let mut args = FieldTable::default();
    if quorum {
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
    }
    ch.queue_declare(
        queue.into(),
        lapin::options::QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await
    .unwrap();
    let _ = conn.close(200, "bye".into()).await;
}

/// Whether message `i` is poison with `k` poison messages per batch of 500:
/// one in each of `k` equal slices of the batch, at an offset that moves
/// from batch to batch.
fn is_poison(i: u64, k: u64) -> bool {
    if k == 0 {
        return false;
    }
    let slice = BULK / k;
    let at = i % BULK;
    at / slice < k && at % slice == (i / BULK * 137 + at / slice * 61) % slice
}

/// Publishes `n` messages, `k` poison messages per batch of 500.
async fn publish(queue: &str, n: u64, k: u64) {
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    let payload = "x".repeat(64);
    let persistent = BasicProperties::default().with_delivery_mode(2);
    support::publish_confirmed(&ch, queue, n, persistent, |i| {
        let poisoned = is_poison(i, k);
        format!(r#"{{"id": {i}, "poison": {poisoned}, "payload": "{payload}"}}"#)
    })
    .await;
    let _ = conn.close(200, "bye".into()).await;
}

/// Publishes `n` messages, then drains them with `route`.
async fn drain(route: &'static str, queue: &'static str, n: u64, k: u64) -> Sample {
    reset(queue, queue.contains("quorum")).await;
    publish(queue, n, k).await;
    CALLS.store(0, Ordering::Relaxed);
    GOOD_REDELIVERED.store(0, Ordering::Relaxed);
    let app = worker::App::new();
    let runtime = support::worker_runtime(&[route], URL, &[], &app);
    let stats = runtime.stats().clone();
    let started = Instant::now();
    let task = tokio::spawn(runtime.run());
    let outcomes = || {
        stats
            .route(route, "amqp")
            .queues()
            .get(queue)
            .copied()
            .unwrap_or_default()
    };
    loop {
        let o = outcomes();
        if o.acked + o.dead_lettered >= n {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{route}: not drained: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    app.shutdown();
    task.await.unwrap().unwrap();
    Sample {
        dead_lettered: outcomes().dead_lettered,
        good_redelivered: GOOD_REDELIVERED.load(Ordering::Relaxed),
        calls: CALLS.load(Ordering::Relaxed),
        secs,
    }
}

fn main() {
    let Some(args) = support::Args::of_bench("bisect", "bench-bisect") else {
        return;
    };
    let flag = |name: &str| args.number(name);
    let n = flag("--messages").unwrap_or(10_000);
    let rounds = flag("--rounds").unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let batches = n.div_ceil(BULK);
    println!(
        "{n} messages at bulk {BULK}, one poison message per batch ({batches} batches), {rounds} rounds interleaved; medians:"
    );
    println!(
        "{:<8} {:<14} {:>13} {:>16} {:>16} {:>9} {:>10}",
        "queue",
        "mode",
        "dead-lettered",
        "good redelivered",
        "calls/failing",
        "drain s",
        "vs clean"
    );
    let cases = [
        (
            "classic",
            ("classic_bisect", "bench_bisect.classic.on"),
            ("classic_plain", "bench_bisect.classic.off"),
        ),
        (
            "quorum",
            ("quorum_bisect", "bench_bisect.quorum.on"),
            ("quorum_plain", "bench_bisect.quorum.off"),
        ),
    ];
    for (label, (on, q_on), (off, q_off)) in cases {
        let mut clean = Vec::new();
        let mut with = Vec::new();
        let mut without = Vec::new();
        for _ in 0..rounds {
            clean.push(rt.block_on(drain(on, q_on, n, 0)));
            with.push(rt.block_on(drain(on, q_on, n, 1)));
            without.push(rt.block_on(drain(off, q_off, n, 1)));
        }
        let clean_secs = median(clean.iter().map(|s| s.secs));
        for (mode, samples) in [
            ("no poison", &clean),
            ("bisect = true", &with),
            ("bisect = false", &without),
        ] {
            let secs = median(samples.iter().map(|s| s.secs));
            let dead = median(samples.iter().map(|s| s.dead_lettered as f64));
            let redelivered = median(samples.iter().map(|s| s.good_redelivered as f64));
            let calls = median(samples.iter().map(|s| s.calls as f64));
            let per_failing = if mode == "no poison" {
                "-".to_owned()
            } else {
                format!("{:.1}", calls / batches as f64)
            };
            println!(
                "{label:<8} {mode:<14} {dead:>13.0} {redelivered:>16.0} {per_failing:>16} {secs:>9.2} {:>9.2}x",
                secs / clean_secs
            );
        }
    }
    sweep(&rt, n, rounds, batches);
}

/// k poison messages per batch of 500 on the classic queue with
/// `bisect = true`: handler calls per failing batch against the estimate
/// k·2·log₂(n/k) + 1.
fn sweep(rt: &tokio::runtime::Runtime, n: u64, rounds: u64, batches: u64) {
    println!();
    println!("k poison messages per batch of {BULK}, classic queue, bisect = true; medians:");
    println!(
        "{:>3} {:>13} {:>16} {:>16} {:>16}",
        "k", "dead-lettered", "good redelivered", "calls/failing", "k*2*log2(n/k)+1"
    );
    for k in [1u64, 2, 5, 10, 25] {
        let samples: Vec<Sample> = (0..rounds)
            .map(|_| rt.block_on(drain("classic_bisect", "bench_bisect.classic.on", n, k)))
            .collect();
        let dead = median(samples.iter().map(|s| s.dead_lettered as f64));
        let redelivered = median(samples.iter().map(|s| s.good_redelivered as f64));
        let calls = median(samples.iter().map(|s| s.calls as f64));
        let estimate = k as f64 * 2.0 * (BULK as f64 / k as f64).log2() + 1.0;
        println!(
            "{k:>3} {dead:>13.0} {redelivered:>16.0} {:>16.1} {estimate:>16.1}",
            calls / batches as f64
        );
    }
}
