//! The SSE consumer against a real axum event stream that drops the
//! connection every few events.

use std::any::Any;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use worker_core::registry::{Location, Route, RouteKind, SseOptions};
use worker_core::State;
use worker_http::sse::{erase_sse, Event};
use worker_http::testing::TestServer;

const TOTAL: u32 = 25;
const PER_CONNECTION: u32 = 7;

#[derive(Default)]
struct Source {
    last_ids: Mutex<Vec<Option<String>>>,
    auth: Mutex<Vec<Option<String>>>,
}

/// Sends `retry: 50`, then up to 7 `tick` events after the client's
/// `Last-Event-ID` (with `noise` events and one undecodable tick between
/// them), then drops the connection; once everything is sent it keeps the
/// connection open.
async fn events(AxumState(src): AxumState<Arc<Source>>, headers: HeaderMap) -> Response {
    let text = |h: &str| headers.get(h).map(|v| v.to_str().unwrap().to_owned());
    let last = text("last-event-id");
    src.last_ids.lock().unwrap().push(last.clone());
    src.auth.lock().unwrap().push(text("authorization"));
    let start: u32 = last.map(|l| l.parse().unwrap()).unwrap_or(0);
    let end = (start + PER_CONNECTION).min(TOTAL);
    let mut chunks = vec![": welcome\nretry: 50\n\n".to_owned()];
    for i in start + 1..=end {
        if i % 5 == 0 {
            chunks.push("event: noise\ndata: {\"n\": 0}\n\n".to_owned());
        }
        if i == 12 {
            chunks.push("event: tick\ndata: not json {\n\n".to_owned());
        }
        // Split inside the event, to cross chunk boundaries.
        chunks.push(format!("event: tick\nid: {i}\nda"));
        chunks.push(format!("ta: {{\"n\": {i}}}\n\n"));
    }
    let sent = stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    let body = if end == TOTAL {
        Body::from_stream(sent.chain(stream::pending()))
    } else {
        Body::from_stream(sent)
    };
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap()
}

async fn start_source() -> (String, Arc<Source>) {
    let src = Arc::new(Source::default());
    let app = axum::Router::new()
        .route("/events", axum::routing::get(events))
        .with_state(src.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, src)
}

#[derive(Debug, Deserialize)]
struct Tick {
    n: u32,
}

type Seen = Mutex<Vec<Vec<(u32, Option<String>)>>>;

async fn on_ticks(events: Vec<Event<Tick>>, State(seen): State<Seen>) {
    assert!(events.iter().all(|e| e.event == "tick"));
    seen.lock()
        .unwrap()
        .push(events.into_iter().map(|e| (e.data.n, e.id)).collect());
}

fn make_on_ticks() -> Box<dyn Any + Send> {
    erase_sse(on_ticks)
}

fn sse_route(url: String, bulk_size: u16, flush: Duration) -> &'static Route {
    Box::leak(Box::new(Route {
        name: "on_ticks",
        module: module_path!(),
        location: Location {
            file: file!(),
            line: 0,
            column: 0,
        },
        kind: RouteKind::Sse {
            options: SseOptions {
                url: Box::leak(url.into_boxed_str()),
                bulk_size,
                bulk_flush_interval: Some(flush),
                events: &["tick"],
                connection: Some("feed"),
            },
            make: make_on_ticks,
        },
    }))
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_with_last_event_id_and_delivers_every_event_once_in_order() {
    let (url, src) = start_source().await;
    let app = worker_core::App::new();
    app.insert(Seen::default());
    let s = TestServer::builder()
        .app(app.clone())
        .hooks(false)
        // The compiled-in url is replaced by the connection's configured one.
        .route_record(sse_route(
            "http://127.0.0.1:9/unused".into(),
            4,
            Duration::from_millis(30),
        ))
        .env("WORKER_SSE_FEED_URL", &url)
        .env(
            "WORKER_SSE_FEED_HEADERS",
            "Authorization: Bearer t0ken; X-Extra: 1",
        )
        .start()
        .await;
    let seen = app.get::<Seen>().unwrap();
    let count = || seen.lock().unwrap().iter().map(Vec::len).sum::<usize>();
    wait_for("every event", || count() >= TOTAL as usize).await;

    let batches = seen.lock().unwrap().clone();
    let all: Vec<u32> = batches.iter().flatten().map(|(n, _)| *n).collect();
    assert_eq!(
        all,
        (1..=TOTAL).collect::<Vec<_>>(),
        "exactly once, in order"
    );
    for (n, id) in batches.iter().flatten() {
        assert_eq!(id.as_deref(), Some(n.to_string().as_str()));
    }
    assert!(
        batches.len() > 1 && batches.iter().all(|b| !b.is_empty() && b.len() <= 4),
        "{batches:?}"
    );

    let expected_ids: Vec<Option<String>> = std::iter::once(None)
        .chain((1..).map(|k| Some((k * PER_CONNECTION).to_string())))
        .take(TOTAL.div_ceil(PER_CONNECTION) as usize)
        .collect();
    assert_eq!(*src.last_ids.lock().unwrap(), expected_ids);
    assert!(src
        .auth
        .lock()
        .unwrap()
        .iter()
        .all(|a| a.as_deref() == Some("Bearer t0ken")));

    let stats = s.stats().route("on_ticks", "sse");
    assert!(stats.is_ready());
    assert_eq!(
        stats.reconnects.load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    assert_eq!(
        stats
            .queues()
            .values()
            .map(|c| c.decode_failures)
            .sum::<u64>(),
        1
    );
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(s.url("/health/ready")).send().await.unwrap().status(),
        200
    );
    let metrics = c
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("worker_consumer_reconnects_total{route=\"on_ticks\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("worker_route_ready{route=\"on_ticks\"} 1"),
        "{metrics}"
    );
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_the_partial_batch_to_the_handler() {
    let (url, _src) = start_source().await;
    let app = worker_core::App::new();
    app.insert(Seen::default());
    let s = TestServer::builder()
        .app(app.clone())
        .hooks(false)
        .route_record(sse_route(url, 1000, Duration::from_secs(3600)))
        .env("WORKER_SSE_FEED_HEADERS", "Authorization: Bearer t0ken")
        .start()
        .await;
    let stats = s.stats().route("on_ticks", "sse");
    wait_for("every event buffered", || {
        stats.buffered.load(std::sync::atomic::Ordering::Relaxed) == TOTAL as usize + 1
    })
    .await;
    assert!(app.get::<Seen>().unwrap().lock().unwrap().is_empty());
    s.shutdown().await.unwrap();
    let batches = app.get::<Seen>().unwrap().lock().unwrap().clone();
    assert_eq!(batches.len(), 1);
    assert_eq!(
        batches[0].len(),
        TOTAL as usize,
        "the undecodable event is skipped"
    );
    assert_eq!(
        stats
            .flush_shutdown
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(!stats.is_ready());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_headers_variable_is_a_startup_error_naming_it() {
    let err = worker_core::config::Config::from_vars(
        [(
            "WORKER_SSE_FEED_HEADERS".to_owned(),
            "Authorization Bearer".to_owned(),
        )],
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("WORKER_SSE_FEED_HEADERS") && err.contains("Name: value"),
        "{err}"
    );
}
