//! Consume, transform, publish: 100 000 messages consumed at bulk 500 from
//! the local RabbitMQ, each turned into a new message and published with
//! confirms to a second queue, then acked. Three clients, interleaved:
//!
//! - raw lapin: a batch of 500, every publish sent pipelined, the confirms
//!   awaited, then one multiple-ack (the baseline);
//! - a `#[route(amqp)]` worker calling `Publisher::send_all` once per batch;
//! - the same worker calling `Publisher::send` per message, the loop a user
//!   writes first (on fewer messages: it is one round trip per message).
//!
//! Every client decodes each body, builds the outgoing struct and encodes it
//! as JSON. Prints msg/s and the ratios (medians of the rounds).
//!
//! ```sh
//! scripts/bench-publish           # --messages 100000 --rounds 3
//! ```
//!
//! (`cargo bench --bench publish -- ARGS`; without `--bench` it only says
//! what it is.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use support::median;
use worker::{route, Error, Message, Publisher};

mod support;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const BULK: usize = 500;
const OUT: &str = "bench_pipe_out";

#[derive(Deserialize)]
struct Order {
    id: u64,
    payload: String,
}

#[derive(Serialize)]
struct Priced {
    id: u64,
    bytes: usize,
    cents: u64,
}

fn price(o: &Order) -> Priced {
    Priced {
        id: o.id,
        bytes: o.payload.len(),
        cents: o.id % 1000 * 3,
    }
}

static HANDLED: AtomicU64 = AtomicU64::new(0);
/// When the first batch reached its handler: both sides are timed from
/// there (the first batch's arrival is not part of the measure).
static STARTED: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);

fn start_clock() {
    STARTED.lock().unwrap().get_or_insert_with(Instant::now);
}

#[route(amqp, queues = ["bench_pipe_all"], bulk_size = 500, bulk_flush_interval = "200ms",
        prefetch = 1024)]
async fn pipelined(msgs: Vec<Message<Order>>, out: Publisher) -> Result<(), Error> {
    start_clock();
    let priced: Vec<Priced> = msgs.iter().map(|m| price(m.body())).collect();
    out.send_all(OUT, &priced).await?;
    HANDLED.fetch_add(msgs.len() as u64, Ordering::Relaxed);
    Ok(())
}

#[route(amqp, queues = ["bench_pipe_one"], bulk_size = 500, bulk_flush_interval = "200ms",
        prefetch = 1024)]
async fn one_by_one(msgs: Vec<Message<Order>>, out: Publisher) -> Result<(), Error> {
    start_clock();
    for m in &msgs {
        out.send(OUT, &price(m.body())).await?;
    }
    HANDLED.fetch_add(msgs.len() as u64, Ordering::Relaxed);
    Ok(())
}

async fn connect() -> Connection {
    Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (run scripts/rabbitmq start)")
}

/// Declares and empties `queue` and `OUT`, then fills `queue` with `n` orders.
async fn prepare(queue: &str, n: u64) {
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    for q in [queue, OUT] {
        ch.queue_declare(
            q.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        ch.queue_purge(q.into(), QueuePurgeOptions::default())
            .await
            .unwrap();
    }
    let payload = "x".repeat(64);
    support::publish_confirmed(&ch, queue, n, BasicProperties::default(), |i| {
        format!(r#"{{"id": {i}, "payload": "{payload}"}}"#)
    })
    .await;
    let _ = conn.close(200, "bye".into()).await;
}

/// Raw lapin: batches of 500, pipelined publishes, confirms, multiple-ack.
async fn raw(n: u64) -> f64 {
    let queue = "bench_pipe_raw";
    prepare(queue, n).await;
    let conn = connect().await;
    let ch = conn.create_channel().await.unwrap();
    let out = conn.create_channel().await.unwrap();
    out.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut consumer = support::raw_consumer(&ch, queue, 1024).await;
    let mut started = None;
    let mut done = 0u64;
    let mut batch = Vec::with_capacity(BULK);
    while done < n {
        let d = consumer.next().await.unwrap().unwrap();
        batch.push(d);
        if batch.len() < BULK && done + (batch.len() as u64) < n {
            continue;
        }
        started.get_or_insert_with(Instant::now);
        let mut confirms = Vec::with_capacity(batch.len());
        for d in &batch {
            let order: Order = serde_json::from_slice(&d.data).unwrap();
            let body = serde_json::to_vec(&price(&order)).unwrap();
            let confirm = out
                .basic_publish(
                    "".into(),
                    OUT.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &body,
                    BasicProperties::default().with_content_type("application/json".into()),
                )
                .await
                .unwrap();
            confirms.push(confirm);
        }
        for c in confirms {
            assert!(c.await.unwrap().is_ack());
        }
        let last = batch.last().unwrap().delivery_tag;
        ch.basic_ack(last, BasicAckOptions { multiple: true })
            .await
            .unwrap();
        done += batch.len() as u64;
        batch.clear();
    }
    let rate = n as f64 / started.unwrap().elapsed().as_secs_f64();
    let _ = conn.close(200, "bye".into()).await;
    rate
}

/// The worker route `route` on `queue`: msg/s from start to the last
/// message handled (its publishes confirmed).
async fn worker(route: &'static str, queue: &str, n: u64) -> f64 {
    prepare(queue, n).await;
    HANDLED.store(0, Ordering::Relaxed);
    *STARTED.lock().unwrap() = None;
    let app = worker::App::new();
    let runtime = support::worker_runtime(&[route], URL, &[], &app);
    let task = tokio::spawn(runtime.run());
    while HANDLED.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let started = STARTED.lock().unwrap().expect("a batch was handled");
    let rate = n as f64 / started.elapsed().as_secs_f64();
    app.shutdown();
    task.await.unwrap().unwrap();
    rate
}

fn main() {
    let Some(args) = support::Args::of_bench("publish", "bench-publish") else {
        return;
    };
    let n = args.number("--messages").unwrap_or(100_000);
    let naive_n = args.number("--naive-messages").unwrap_or(n / 10);
    let rounds = args.number("--rounds").unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut raws, mut alls, mut ones) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        raws.push(rt.block_on(raw(n)));
        alls.push(rt.block_on(worker("pipelined", "bench_pipe_all", n)));
        ones.push(rt.block_on(worker("one_by_one", "bench_pipe_one", naive_n)));
    }
    let (raw, all, one) = (median(raws), median(alls), median(ones));
    println!("consume at bulk 500, transform, publish with confirms, ack; {rounds} rounds interleaved; medians:");
    println!("{:<46} {:>10} {:>12}", "client", "msg/s", "vs raw");
    println!(
        "{:<46} {:>10.0} {:>12}",
        format!("raw lapin, pipelined ({n} messages)"),
        raw,
        ""
    );
    println!(
        "{:<46} {:>10.0} {:>11.2}x",
        format!("worker, send_all per batch ({n} messages)"),
        all,
        all / raw
    );
    println!(
        "{:<46} {:>10.0} {:>11.2}x",
        format!("worker, send per message ({naive_n} messages)"),
        one,
        one / raw
    );
    println!("send_all / send per message: {:.1}x", all / one);
}
