//! Batches that fail well, as docs/routes.md shows them: `bisect = true` finds
//! the messages a batch fails on, and an application's error type chooses
//! what happens to the messages of a failed batch.
//!
//! ```sh
//! cargo run --example failing_well     # embedded broker; Ctrl-C stops it
//! ```
//!
//! Every `payments` batch with a negative amount fails; bisection settles
//! the other payments and dead-letters only the bad ones. `orders` maps
//! its own error enum onto actions and bisects too: its batch of ten with
//! one invalid order is bisected, that order alone gets the error's action
//! (`reject`: dead-lettered, logged once at `warn` with its id) and the
//! nine others are acked. `thumbnails` bounds each call with a
//! `timeout`: the batch with the 5000-megapixel image times out, bisection
//! settles the two others, and that one is retried three times, then
//! dead-lettered.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use worker::{on_startup, route, App, Error, Message, State};

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Payment {
    id: u64,
    cents: i64,
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Order {
    id: u64,
    quantity: u32,
}

/// Stands for a database whose bulk insert fails as a whole on one bad row.
#[derive(Default)]
struct Db {
    rows: AtomicU64,
}

impl Db {
    async fn insert_all(&self, payments: impl Iterator<Item = &Payment>) -> Result<(), Error> {
        let payments: Vec<&Payment> = payments.collect();
        if let Some(bad) = payments.iter().find(|p| p.cents < 0) {
            return Err(Error::msg(format!(
                "payment {} has a negative amount",
                bad.id
            )));
        }
        self.rows
            .fetch_add(payments.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[route(amqp, queues = ["payments"], bulk_size = 500, bisect = true,
        on_exception = reject, dead_letter = "payments.dead")]
async fn payments(msgs: Vec<Message<Payment>>, State(db): State<Db>) -> Result<(), worker::Error> {
    db.insert_all(msgs.iter().map(|m| m.body())).await?; // one bad row fails the insert
    Ok(())
}

#[derive(Debug)]
enum OrderError {
    Invalid(u64),
    Unavailable,
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::Invalid(id) => write!(f, "order {id} is invalid"),
            OrderError::Unavailable => f.write_str("the stock service is unavailable"),
        }
    }
}

impl From<OrderError> for worker::Error {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::Invalid(_) => worker::Error::reject(worker::Error::msg(e)),
            OrderError::Unavailable => worker::Error::requeue(worker::Error::msg(e)),
        }
    }
}

// A typed error under `bisect = true`: bisection finds the order, the
// error's action decides what it gets.
#[route(amqp, queues = ["orders"], bulk_size = 10, bulk_flush_interval = "100ms",
        bisect = true, dead_letter = "orders.dead")]
async fn orders(msgs: Vec<Message<Order>>) -> Result<(), OrderError> {
    for m in &msgs {
        match m.body().quantity {
            0 => return Err(OrderError::Invalid(m.body().id)),
            1..=100 => {}
            _ => return Err(OrderError::Unavailable), // retried later
        }
    }
    Ok(())
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Image {
    url: String,
    megapixels: u32,
}

async fn render(images: &[Message<Image>]) {
    let work: u32 = images.iter().map(|m| m.body().megapixels).sum();
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(work))).await;
}

#[route(amqp, queues = ["thumbnails"], bulk_size = 10, bulk_flush_interval = "100ms",
        timeout = "2s", bisect = true, max_retries = 3, retry_backoff = "1s",
        dead_letter = "thumbnails.dead")]
async fn thumbnails(msgs: Vec<Message<Image>>) {
    render(&msgs).await; // cancelled after 2 s: bisected, then the slow one retried
}

/// Declares the queues (the embedded broker starts empty) and publishes a
/// few payments and orders.
#[on_startup]
async fn setup(app: App) -> Result<(), Error> {
    app.insert(Db::default());
    let publisher = app.publisher()?;
    for q in [
        "payments",
        "payments.dead",
        "orders",
        "orders.dead",
        "thumbnails",
        "thumbnails.dead",
    ] {
        publisher.declare_queue(q).await?;
    }
    for id in 0..1000 {
        let cents = if id % 250 == 7 { -100 } else { 100 };
        publisher.send("payments", &Payment { id, cents }).await?;
    }
    for id in 0..10 {
        let quantity = if id == 3 { 0 } else { 1 };
        publisher.send("orders", &Order { id, quantity }).await?;
    }
    for megapixels in [12, 48, 5000] {
        let url = format!("https://example.com/{megapixels}.jpg");
        publisher
            .send("thumbnails", &Image { url, megapixels })
            .await?;
    }
    Ok(())
}

worker::main!(amqp = "memory://", http = "off");
