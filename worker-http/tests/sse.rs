//! The SSE consumer against a real axum event stream that drops the
//! connection every few events.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use worker_core::State;
use worker_http::sse::Event;
use worker_http::test_server::TestServer;
use worker_macros::route;
use worker_testkit::{get_text, wait_until};

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

fn record(events: Vec<Event<Tick>>, seen: &Seen) {
    assert!(events.iter().all(|e| e.event == "tick"));
    seen.lock()
        .unwrap()
        .push(events.into_iter().map(|e| (e.data.n, e.id)).collect());
}

/// A route `$name` on the `tick` events of the `feed` connection, with the
/// given batching. The compiled-in url is replaced by the connection's
/// configured one (`WORKER_SSE_FEED_URL`): the test's source listens on an
/// ephemeral port.
macro_rules! ticks_route {
    ($name:ident, $($batching:tt)*) => {
        #[route(sse, crate = "worker_http", url = "http://127.0.0.1:9/unused", events = ["tick"],
                connection = "feed", $($batching)*)]
        async fn $name(events: Vec<Event<Tick>>, State(seen): State<Seen>) {
            record(events, &seen);
        }
    };
}

ticks_route! { on_ticks, bulk_size = 4, bulk_flush_interval = "30ms" }
// Batches that only shutdown flushes.
ticks_route! { on_ticks_held, bulk_size = 1000, bulk_flush_interval = "1h" }

/// Runs `route` on the `feed` connection, pointed at `url` with `headers`;
/// the app holds what the handler saw.
async fn consume(route: &str, url: &str, headers: &str) -> (TestServer, worker_core::App) {
    let app = worker_core::App::new();
    app.insert(Seen::default());
    let s = TestServer::builder()
        .app(app.clone())
        .hooks(false)
        .route(route)
        .env("WORKER_SSE_FEED_URL", url)
        .env("WORKER_SSE_FEED_HEADERS", headers)
        .start()
        .await;
    (s, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_with_last_event_id_and_delivers_every_event_once_in_order() {
    let (url, src) = start_source().await;
    let (s, app) = consume("on_ticks", &url, "Authorization: Bearer t0ken; X-Extra: 1").await;
    let seen = app.get::<Seen>().unwrap();
    let count = || seen.lock().unwrap().iter().map(Vec::len).sum::<usize>();
    wait_until("every event", Duration::from_secs(20), || {
        count() >= TOTAL as usize
    })
    .await;

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
    let metrics = get_text(&c, &s.url("/metrics")).await;
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
    let (s, app) = consume("on_ticks_held", &url, "Authorization: Bearer t0ken").await;
    let stats = s.stats().route("on_ticks_held", "sse");
    wait_until("every event buffered", Duration::from_secs(20), || {
        stats.buffered.load(std::sync::atomic::Ordering::Relaxed) == TOTAL as u64 + 1
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

static BISECTED_CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Fails any batch holding tick 13; records the batches that succeed.
#[route(sse, crate = "worker_http", url = "http://127.0.0.1:9/unused", events = ["tick"],
        connection = "feed", bulk_size = 1000, bulk_flush_interval = "1h", bisect = true)]
async fn on_ticks_bisected(
    events: Vec<Event<Tick>>,
    State(seen): State<Seen>,
) -> Result<(), worker_core::Error> {
    BISECTED_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if events.iter().any(|e| e.data.n == 13) {
        return Err("tick 13 cannot be handled".into());
    }
    record(events, &seen);
    Ok(())
}

/// With `bisect = true`, a failed batch of 25 events is re-run in halves:
/// every event but the failing one is handled, in at most
/// 2 * ceil(log2 25) + 1 = 11 calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_of_events_is_bisected() {
    let (url, _src) = start_source().await;
    let (s, app) = consume("on_ticks_bisected", &url, "Authorization: Bearer t0ken").await;
    let stats = s.stats().route("on_ticks_bisected", "sse");
    wait_until("every event buffered", Duration::from_secs(20), || {
        stats.buffered.load(std::sync::atomic::Ordering::Relaxed) == TOTAL as u64 + 1
    })
    .await;
    s.shutdown().await.unwrap();
    let mut handled: Vec<u32> = app
        .get::<Seen>()
        .unwrap()
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .map(|(n, _)| *n)
        .collect();
    handled.sort();
    let expected: Vec<u32> = (1..=TOTAL).filter(|n| *n != 13).collect();
    assert_eq!(handled, expected);
    let calls = BISECTED_CALLS.load(std::sync::atomic::Ordering::SeqCst);
    assert!(calls <= 11, "{calls} calls");
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&stats.bisected), 1);
    assert_eq!(load(&stats.bisect_calls), u64::from(calls) - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_headers_variable_is_a_startup_error_naming_it() {
    let vars = [
        ("WORKER_SSE_FEED_HEADERS", "Authorization Bearer"),
        ("WORKER_AMQP_URL", "memory://sse-bad-headers"),
    ];
    let runtime = worker_testkit::runtime(&["on_ticks"], vars)
        .service(std::sync::Arc::new(worker_http::sse::SseService::new()))
        .build();
    let err = runtime.run().await.unwrap_err().to_string();
    assert!(
        err.contains("WORKER_SSE_FEED_HEADERS") && err.contains("Name: value"),
        "{err}"
    );
}

ticks_route! { on_ticks_masked, bulk_size = 4, bulk_flush_interval = "30ms" }

/// A stream URL with a password and a token in its query: neither appears
/// in the logs (connect, reconnects) nor in the metrics' labels.
#[tokio::test]
async fn stream_url_secrets_are_masked_in_logs_and_metrics() {
    let logs = worker_testkit::Logs::capture();
    let (url, _src) = start_source().await;
    let url = url.replace("http://", "http://reader:s3cretpw@") + "?token=t0psecret&n=1";
    let (s, app) = consume("on_ticks_masked", &url, "X-Extra: 1").await;
    let seen = app.get::<Seen>().unwrap();
    wait_until("every event", Duration::from_secs(20), || {
        seen.lock().unwrap().iter().map(Vec::len).sum::<usize>() >= TOTAL as usize
    })
    .await;
    let metrics = get_text(&reqwest::Client::new(), &s.url("/metrics")).await;
    s.shutdown().await.unwrap();
    let lines = logs.lines().join("\n");
    assert!(lines.contains("event stream lost; reconnecting"), "{lines}");
    assert!(
        lines.contains("reader:****@") && lines.contains("token=****"),
        "{lines}"
    );
    for secret in ["s3cretpw", "t0psecret"] {
        assert!(!lines.contains(secret), "{secret} in the logs:\n{lines}");
        assert!(
            !metrics.contains(secret),
            "{secret} in the metrics:\n{metrics}"
        );
    }
    assert!(metrics.contains("token=****"), "{metrics}");
}
