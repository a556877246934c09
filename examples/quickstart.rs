//! Quickstart: a batched consumer, a per-message override, a recurring
//! progress report, startup/shutdown hooks and shared state.
//!
//! ```sh
//! cargo run --example quickstart                 # embedded broker, no server needed
//! WORKER_AMQP_URL=amqp://guest:guest@localhost:5672/%2f cargo run --example quickstart
//! ```
//!
//! On startup it publishes `QUICKSTART_ORDERS` (default 5000) orders; the
//! consumer handles them in batches of up to 500 and rejects the invalid
//! ones (amount 0) individually while the rest of the batch is acked. A
//! recurring task prints progress every second while it changes, and says
//! when every order is handled. Ctrl-C stops it cleanly.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use worker::{on_shutdown, on_startup, route, App, Message, State};

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    amount_cents: u64,
}

/// Shared state, inserted at startup and read by every handler.
#[derive(Default)]
struct Progress {
    published: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    batches: AtomicU64,
    /// Orders handled at the last progress report.
    reported: AtomicU64,
}

#[on_startup]
async fn publish_orders(app: App) -> Result<(), worker::Error> {
    let total: u64 = std::env::var("QUICKSTART_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let progress = Progress::default();
    let publisher = app.publisher()?;
    publisher.declare_queue("orders").await?;
    for id in 1..=total {
        let order = Order {
            id,
            customer: format!("customer-{}", id % 97),
            // Every 250th order is invalid.
            amount_cents: if id % 250 == 0 { 0 } else { id * 10 },
        };
        publisher.publish("", "orders", &order).await?;
    }
    progress.published.store(total, Ordering::Relaxed);
    app.insert(progress);
    println!("published {total} orders to `orders`");
    Ok(())
}

#[route(amqp, queues = ["orders"], bulk_size = 500, bulk_flush_interval = "1s",
        on_success = ack, on_exception = requeue)]
async fn process_orders(
    orders: Vec<Message<Order>>,
    State(progress): State<Progress>,
) -> Result<(), worker::Error> {
    let mut accepted = 0;
    let mut rejected = 0;
    for order in &orders {
        if order.body().amount_cents == 0 {
            order.reject(); // per-message override: the rest of the batch is acked
            rejected += 1;
        } else {
            accepted += 1;
        }
    }
    let batch = progress.batches.fetch_add(1, Ordering::Relaxed) + 1;
    progress.accepted.fetch_add(accepted, Ordering::Relaxed);
    progress.rejected.fetch_add(rejected, Ordering::Relaxed);
    println!(
        "batch {batch}: {} orders (first #{}, last #{}), {accepted} accepted, {rejected} rejected",
        orders.len(),
        orders.first().map(|o| o.body().id).unwrap_or_default(),
        orders.last().map(|o| o.body().id).unwrap_or_default(),
    );
    Ok(())
}

#[route(every, interval = "1s", run_on_start = false)]
async fn report_progress(State(progress): State<Progress>) {
    let done =
        progress.accepted.load(Ordering::Relaxed) + progress.rejected.load(Ordering::Relaxed);
    // Print only when something changed since the last report.
    if progress.reported.swap(done, Ordering::Relaxed) == done {
        return;
    }
    let published = progress.published.load(Ordering::Relaxed);
    println!(
        "progress: {done}/{published} orders handled in {} batches",
        progress.batches.load(Ordering::Relaxed)
    );
    if done >= published {
        println!("all {published} orders handled; press Ctrl-C to stop");
    }
}

#[on_shutdown]
async fn summary(State(progress): State<Progress>) {
    println!(
        "stopped: {} accepted, {} rejected",
        progress.accepted.load(Ordering::Relaxed),
        progress.rejected.load(Ordering::Relaxed)
    );
}

worker::main!(amqp = "memory://", prefetch = 1000, http = "off");
