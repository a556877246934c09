//! An order service, written with worker as an application would be:
//!
//! - `POST /orders` takes an order and queues it on `orders`;
//! - `accept` consumes `orders` in batches: it rejects invalid orders one
//!   by one (dead-lettered into `orders.invalid`), stores the valid ones and
//!   publishes an `OrderAccepted` event for each to `order_events` (a queue
//!   that another service consumes; this one only publishes to it);
//! - `GET /orders/{id}` reads a stored order (a JSON 404 when unknown);
//! - `report` logs the number of stored orders every 10 seconds;
//! - `declare_queue!` declares `order_events`; `setup` (startup hook)
//!   creates the store.
//!
//! The tests in `tests/orders.rs` run all of it on the embedded broker.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use worker::http::{Json, Path, StatusCode};
use worker::{on_startup, route, App, Error, Message, Publisher, State};

/// An order, as clients post it and as it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Unique id, chosen by the client.
    pub id: u64,
    /// What is ordered.
    pub item: String,
    /// How many; 0 is invalid.
    pub quantity: u32,
}

/// The event published to `order_events` for each accepted order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderAccepted {
    /// The order's id.
    pub id: u64,
    /// How many were ordered.
    pub quantity: u32,
}

/// The queue `accept` consumes.
pub const ORDERS: &str = "orders";
/// The queue accepted-order events are published to.
pub const ORDER_EVENTS: &str = "order_events";

/// The accepted orders, shared by the routes (`State<Store>`).
#[derive(Debug, Default)]
pub struct Store(Mutex<BTreeMap<u64, Order>>);

impl Store {
    /// The stored order `id`.
    pub fn get(&self, id: u64) -> Option<Order> {
        self.0.lock().unwrap().get(&id).cloned()
    }

    /// How many orders are stored.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Whether no order is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, order: Order) {
        self.0.lock().unwrap().insert(order.id, order);
    }
}

// The queue this service only publishes to (another service consumes it),
// declared at startup before any hook or route runs: a publish to a queue
// that does not exist fails, it is never silently dropped.
worker::declare_queue!("order_events");

/// Creates the store.
#[on_startup]
async fn setup(app: App) -> Result<(), Error> {
    app.insert(Store::default());
    Ok(())
}

/// Up to 50 orders at a time, or what arrived within 200 ms. An invalid
/// order is rejected on its own (into `orders.invalid`); if a publish
/// fails, the `?` fails the batch and its undecided orders are requeued.
#[route(amqp, queues = ["orders"], bulk_size = 50, bulk_flush_interval = "200ms",
        on_exception = requeue, dead_letter = "orders.invalid", declare = true)]
async fn accept(
    orders: Vec<Message<Order>>,
    State(store): State<Store>,
    events: Publisher,
) -> Result<(), Error> {
    for m in &orders {
        let order = m.body();
        if order.quantity == 0 {
            tracing::warn!(id = order.id, "rejecting an order of nothing");
            m.reject();
            continue;
        }
        store.insert(order.clone());
        let event = OrderAccepted {
            id: order.id,
            quantity: order.quantity,
        };
        events.send(ORDER_EVENTS, &event).await?;
    }
    Ok(())
}

/// Takes an order and queues it; `202 Accepted` once the broker confirmed.
#[route(http, method = POST, path = "/orders")]
async fn post_order(events: Publisher, Json(order): Json<Order>) -> Result<StatusCode, Error> {
    events.send(ORDERS, &order).await?;
    Ok(StatusCode::ACCEPTED)
}

/// A stored order, or `404 {"error": "no order 7", "status": 404}`.
#[route(http, method = GET, path = "/orders/{id}")]
async fn get_order(Path(id): Path<u64>, State(store): State<Store>) -> Result<Json<Order>, Error> {
    store
        .get(id)
        .map(Json)
        .ok_or_else(|| Error::http(StatusCode::NOT_FOUND, format!("no order {id}")))
}

/// Logs how many orders are stored, every 10 seconds.
#[route(every, interval = "10s", run_on_start = false)]
async fn report(State(store): State<Store>) {
    tracing::info!(orders = store.len(), "orders stored");
}
