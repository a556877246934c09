//! HTTP routes sharing state with a queue consumer, on the embedded broker.
//!
//! ```sh
//! cargo run --example http
//! curl -s -XPOST localhost:8080/orders -H 'content-type: application/json' \
//!      -d '{"id": 1, "item": "book", "quantity": 2}'        # 202: queued
//! curl -s localhost:8080/orders/1                            # stored by the consumer
//! curl -s 'localhost:8080/orders?item=book&limit=10'
//! curl -s -XDELETE localhost:8080/orders/1                    # 204
//! curl -s localhost:8080/orders/abc                          # 400, JSON error
//! curl -s localhost:8080/metrics                             # Prometheus
//! curl -s localhost:8080/health/ready
//! ```
//!
//! `POST /orders` publishes the order to the `orders` queue; the `store`
//! consumer takes them in batches and writes them to the shared `Store`,
//! which the `GET` routes read. `main!(http_layers = layers)` wraps the
//! routes in the application's own tower layers (here an axum middleware
//! that names the server; auth, CORS or tracing layers go the same way). Set `EXAMPLE_SELF_TEST=1` to have it
//! exercise its own routes once started and exit.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use worker::http::{error_response, Json, Path, Query, Response, StatusCode};
use worker::metrics::prometheus_client::metrics::counter::Counter;
use worker::{on_startup, route, App, Message, Publisher, State};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: u64,
    item: String,
    quantity: u32,
}

/// Orders stored by the consumer.
#[derive(Default)]
struct Store(RwLock<BTreeMap<u64, Order>>);

/// An application metric, scraped with the runtime's on `/metrics`.
struct Stored(Counter);

#[on_startup]
async fn setup(app: App) -> Result<(), worker::Error> {
    app.publisher()?.declare_queue("orders").await?;
    app.insert(Store::default());
    let stored = Counter::default();
    worker::metrics::registry().register(
        "example_orders_stored",
        "Orders written to the store",
        stored.clone(),
    );
    app.insert(Stored(stored));
    if std::env::var_os("EXAMPLE_SELF_TEST").is_some() {
        tokio::spawn(self_test(app));
    }
    Ok(())
}

#[route(amqp, queues = ["orders"], bulk_size = 100, bulk_flush_interval = "200ms")]
async fn store(
    orders: Vec<Message<Order>>,
    State(store): State<Store>,
    State(stored): State<Stored>,
) {
    let mut db = store.0.write().unwrap();
    for m in &orders {
        db.insert(m.body().id, m.body().clone());
    }
    stored.0.inc_by(orders.len() as u64);
}

#[route(http, method = POST, path = "/orders")]
async fn create_order(
    publisher: Publisher,
    Json(order): Json<Order>,
) -> Result<StatusCode, Response> {
    if order.quantity == 0 {
        return Err(error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "quantity must be at least 1",
        ));
    }
    publisher
        .publish("", "orders", &order)
        .await
        .map_err(|e| error_response(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(StatusCode::ACCEPTED)
}

#[route(http, method = GET, path = "/orders/{id}")]
async fn get_order(
    Path(id): Path<u64>,
    State(store): State<Store>,
) -> Result<Json<Order>, Response> {
    let db = store.0.read().unwrap();
    db.get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| error_response(StatusCode::NOT_FOUND, format!("no order {id}")))
}

#[derive(Deserialize)]
struct Filter {
    item: Option<String>,
    limit: Option<usize>,
}

#[route(http, method = GET, path = "/orders")]
async fn list_orders(Query(f): Query<Filter>, State(store): State<Store>) -> Json<Vec<Order>> {
    let db = store.0.read().unwrap();
    let orders = db
        .values()
        .filter(|o| f.item.as_ref().is_none_or(|i| &o.item == i))
        .take(f.limit.unwrap_or(100))
        .cloned()
        .collect();
    Json(orders)
}

#[route(http, method = DELETE, path = "/orders/{id}")]
async fn delete_order(Path(id): Path<u64>, State(store): State<Store>) -> StatusCode {
    match store.0.write().unwrap().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

/// The application's layers around its HTTP routes (not around
/// `/health/*` and `/metrics`): any `tower::Layer`, with `Router::layer`.
fn layers(router: worker::http::Router) -> worker::http::Router {
    router.layer(worker::http::axum::middleware::map_response(
        |mut res: Response| async move {
            res.headers_mut().insert(
                "x-served-by",
                worker::http::HeaderValue::from_static("example-http"),
            );
            res
        },
    ))
}

/// With `EXAMPLE_SELF_TEST=1`: call the routes over HTTP, print what they
/// answer, and stop the worker.
async fn self_test(app: App) {
    let base = format!(
        "http://{}",
        std::env::var("WORKER_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into())
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let c = reqwest::Client::new();
    for id in 1..=3 {
        let order = Order {
            id,
            item: if id == 2 { "pen".into() } else { "book".into() },
            quantity: 1,
        };
        let res = c
            .post(format!("{base}/orders"))
            .json(&order)
            .send()
            .await
            .unwrap();
        println!(
            "POST /orders {id}: {} (x-served-by: {:?})",
            res.status(),
            res.headers().get("x-served-by")
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for path in ["/orders/1", "/orders?item=book", "/orders/abc", "/orders/9"] {
        let res = c.get(format!("{base}{path}")).send().await.unwrap();
        println!("GET {path}: {} {}", res.status(), res.text().await.unwrap());
    }
    let res = c.delete(format!("{base}/orders/1")).send().await.unwrap();
    println!("DELETE /orders/1: {}", res.status());
    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in metrics.lines().filter(|l| {
        l.starts_with("example_orders_stored") || l.starts_with("worker_http_requests_total")
    }) {
        println!("{line}");
    }
    app.shutdown();
}

worker::main!(amqp = "memory://", http_layers = layers);
