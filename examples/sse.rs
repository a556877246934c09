//! Consuming a Server-Sent-Events stream in batches.
//!
//! ```sh
//! cargo run --example sse                          # runs its own tiny SSE source
//! WORKER_SSE_PRICES_URL=https://example.com/events cargo run --example sse
//! ```
//!
//! Without `WORKER_SSE_PRICES_URL` (which replaces the route's `url`), a small axum server on `127.0.0.1:9000` (`SSE_PORT`)
//! emits a `price` event every 100 ms, with ids, a `retry: 500`, a
//! `heartbeat` event that the route filters out, and drops the connection
//! every 20 events: the consumer reconnects and resumes with
//! `Last-Event-ID`, so no price is lost or repeated. The route batches up to
//! 10 prices, or whatever arrived within a second. Ctrl-C stops it; with
//! `EXAMPLE_EVENTS=N` it stops by itself after N prices.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use worker::sse::Event;
use worker::{on_startup, route, App, State};

#[derive(Debug, Deserialize)]
struct Price {
    symbol: String,
    cents: u64,
}

#[derive(Default)]
struct Seen(AtomicU64);

#[on_startup]
async fn setup(app: App) {
    app.insert(Seen::default());
    if std::env::var_os("WORKER_SSE_PRICES_URL").is_none() {
        let port: u16 = std::env::var("SSE_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(9000);
        tokio::spawn(source(port));
    }
}

// `WORKER_SSE_PRICES_URL` replaces `url`; `WORKER_SSE_PRICES_HEADERS`
// adds headers (`Authorization: Bearer ...`).
#[route(sse, url = "http://127.0.0.1:9000/events", bulk_size = 10,
        bulk_flush_interval = "1s", events = ["price"], connection = "prices")]
async fn on_prices(events: Vec<Event<Price>>, State(seen): State<Seen>, app: App) {
    let first = events
        .first()
        .and_then(|e| e.id.clone())
        .unwrap_or_default();
    let last = events.last().and_then(|e| e.id.clone()).unwrap_or_default();
    let total = seen.0.fetch_add(events.len() as u64, Ordering::Relaxed) + events.len() as u64;
    let avg = events.iter().map(|e| e.data.cents).sum::<u64>() / events.len() as u64;
    println!(
        "{} prices (ids {first}..={last}) of {}, average {avg} cents; {total} so far",
        events.len(),
        events[0].data.symbol
    );
    let stop: Option<u64> = std::env::var("EXAMPLE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok());
    if stop.is_some_and(|n| total >= n) {
        app.shutdown();
    }
}

/// A tiny SSE source: resumes after `Last-Event-ID`, drops every 20 events.
async fn source(port: u16) {
    async fn events(headers: axum::http::HeaderMap) -> axum::response::Response {
        let after: u64 = headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let head = stream::once(async { Ok::<_, Infallible>("retry: 500\n\n".to_owned()) });
        let body = stream::iter(after + 1..=after + 20).then(|id| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let heartbeat = if id % 5 == 0 { "event: heartbeat\ndata: {}\n\n" } else { "" };
            Ok::<_, Infallible>(format!(
                "{heartbeat}event: price\nid: {id}\ndata: {{\"symbol\": \"ACME\", \"cents\": {}}}\n\n",
                10_000 + (id * 37) % 500
            ))
        });
        axum::response::Response::builder()
            .header("content-type", "text/event-stream")
            .body(axum::body::Body::from_stream(head.chain(body)))
            .unwrap()
    }
    let app = axum::Router::new().route("/events", axum::routing::get(events));
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => {
            let _ = axum::serve(listener, app).await;
        }
        Err(e) => eprintln!("cannot start the example SSE source on port {port}: {e}"),
    }
}

worker::main!(amqp = "memory://", http = "127.0.0.1:8081");
