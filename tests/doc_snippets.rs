//! The Rust snippets of docs/operations.md, as written there, compiled and
//! run (tests/readme.rs checks that each snippet of the documentation is
//! in a compiled file).

// "Your own metrics".
use worker::metrics::prometheus_client::metrics::counter::Counter;

#[worker::on_startup]
async fn metrics(app: worker::App) {
    let orders: Counter = Counter::default();
    worker::metrics::registry().register("orders_stored", "Orders stored", orders.clone());
    app.insert(orders);
}

use worker::http::Json;
use worker::{route, State};

#[route(http, method = GET, path = "/items/{id}")]
async fn get_item(State(orders): State<Counter>) -> Json<u64> {
    orders.inc();
    Json(orders.get())
}

// "Testing".
#[tokio::test]
async fn get_item_answers() -> Result<(), worker::Error> {
    let server = worker::testing::http::TestServer::builder()
        .route("get_item")
        .start()
        .await;
    let res = reqwest::get(server.url("/items/1")).await?;
    assert_eq!(res.status(), 200);
    server.shutdown().await?;
    Ok(())
}

/// The startup hook's counter is the route's state and is scraped on
/// `/metrics` with the runtime's own metrics.
#[tokio::test]
async fn the_application_metric_is_scraped_with_the_runtimes() {
    let server = worker::testing::http::TestServer::builder()
        .route("get_item")
        .start()
        .await;
    let first: u64 = reqwest::get(server.url("/items/7"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first, 1);
    let scraped = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(scraped.contains("orders_stored_total"), "{scraped}");
    assert!(scraped.contains("worker_http_requests_total"), "{scraped}");
    server.shutdown().await.unwrap();
}
