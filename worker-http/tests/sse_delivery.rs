//! At-least-once `sse` routes on the embedded broker, against a real event
//! stream (`worker_testkit::sse::EventSource`, which drops the connection
//! every 150 events): a failing batch is retried until it succeeds, its
//! events go to `dead_letter` after `max_retries`, and with `resume = true`
//! a process that is killed and started again continues after the last
//! settled event. The same scenarios run on RabbitMQ in the reliability
//! suite.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use worker_core::{App, Error, State};
use worker_http::sse::Event;
use worker_http::test_server::TestServer;
use worker_macros::route;
use worker_testkit::sse::EventSource;
use worker_testkit::wait_until;

const TOTAL: u32 = 1000;

#[derive(Debug, Deserialize)]
struct Tick {
    n: u32,
}

/// Every tick a handler saw, and how often.
#[derive(Default)]
struct Handled(Mutex<Vec<u32>>);

impl Handled {
    fn distinct(&self) -> BTreeSet<u32> {
        self.0.lock().unwrap().iter().copied().collect()
    }
}

static FAILURES: AtomicU32 = AtomicU32::new(0);

/// Fails the batch holding tick 500 twice, then handles it.
#[route(
    sse,
    crate = "worker_http",
    url = "http://127.0.0.1:9/unused",
    connection = "feed",
    bulk_size = 50,
    bulk_flush_interval = "20ms",
    max_retries = 3,
    retry_backoff = "10ms"
)]
async fn fails_twice(events: Vec<Event<Tick>>, State(seen): State<Handled>) -> Result<(), Error> {
    if events.iter().any(|e| e.data.n == 500) && FAILURES.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err("the alerts service is down".into());
    }
    seen.0
        .lock()
        .unwrap()
        .extend(events.iter().map(|e| e.data.n));
    Ok(())
}

async fn serve(route: &str, source: &EventSource) -> (TestServer, App) {
    let app = App::new();
    app.insert(Handled::default());
    let s = TestServer::builder()
        .app(app.clone())
        .hooks(false)
        .route(route)
        .env("WORKER_SSE_FEED_URL", &source.url)
        .start()
        .await;
    (s, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_fails_twice_is_retried_and_every_event_is_handled() {
    let source = EventSource::start(TOTAL, 150, Duration::ZERO).await;
    let (s, app) = serve("fails_twice", &source).await;
    let handled = app.get::<Handled>().unwrap();
    wait_until("every event handled", Duration::from_secs(30), || {
        handled.distinct().len() == TOTAL as usize
    })
    .await;
    let counts = s.stats().route("fails_twice", "sse").queues()[&source.url];
    s.shutdown().await.unwrap();
    assert_eq!(handled.distinct(), (1..=TOTAL).collect());
    assert_eq!(
        FAILURES.load(Ordering::SeqCst),
        3,
        "two failures, then the success"
    );
    assert_eq!(counts.dropped, 0, "{counts:?}");
    assert_eq!(counts.dead_lettered, 0, "{counts:?}");
    assert_eq!(
        counts.retried, 100,
        "the batch of 50 holding tick 500, twice: {counts:?}"
    );
    assert!(source.connections() >= 7, "the stream was cut and resumed");
}

/// Always fails on ticks 500 and 501; bisection isolates them.
#[route(
    sse,
    crate = "worker_http",
    url = "http://127.0.0.1:9/unused",
    connection = "feed",
    bulk_size = 50,
    bulk_flush_interval = "20ms",
    bisect = true,
    max_retries = 2,
    retry_backoff = "10ms",
    dead_letter = "ticks.dead"
)]
async fn poisoned(events: Vec<Event<Tick>>, State(seen): State<Handled>) -> Result<(), Error> {
    if events.iter().any(|e| e.data.n == 500 || e.data.n == 501) {
        return Err("tick 500 is malformed".into());
    }
    seen.0
        .lock()
        .unwrap()
        .extend(events.iter().map(|e| e.data.n));
    Ok(())
}

#[derive(Debug, Deserialize)]
struct DeadEvent {
    id: String,
    event: String,
    data: String,
    route: String,
    error: String,
    retries: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_retries_the_events_go_to_the_dead_letter_queue() {
    let source = EventSource::start(TOTAL, 150, Duration::ZERO).await;
    let (s, app) = serve("poisoned", &source).await;
    let handled = app.get::<Handled>().unwrap();
    let stats = s.stats().route("poisoned", "sse");
    wait_until("every event settled", Duration::from_secs(30), || {
        let c = stats.queues().get(&source.url).copied().unwrap_or_default();
        c.acked + c.dead_lettered == u64::from(TOTAL)
    })
    .await;
    let counts = stats.queues()[&source.url];
    let dead: Vec<DeadEvent> = s.messages("ticks.dead");
    s.shutdown().await.unwrap();
    assert_eq!((counts.dead_lettered, counts.dropped), (2, 0), "{counts:?}");
    let expected: BTreeSet<u32> = (1..=TOTAL).filter(|n| *n != 500 && *n != 501).collect();
    assert_eq!(handled.distinct(), expected);
    assert_eq!(dead.len(), 2);
    for (d, n) in dead.iter().zip([500, 501]) {
        assert_eq!(d.id, n.to_string());
        assert_eq!((d.event.as_str(), d.route.as_str()), ("tick", "poisoned"));
        assert_eq!(d.data, format!("{{\"n\": {n}}}"));
        assert_eq!(d.retries, 2);
        assert!(d.error.contains("malformed"), "{}", d.error);
    }
}

/// Without `max_retries` or `dead_letter`, and at shutdown: a batch that
/// never succeeds is dropped loudly, and counted.
#[route(
    sse,
    crate = "worker_http",
    url = "http://127.0.0.1:9/unused",
    connection = "feed",
    bulk_size = 10,
    bulk_flush_interval = "20ms",
    max_retries = 1,
    retry_backoff = "10ms"
)]
async fn hopeless(events: Vec<Event<Tick>>) -> Result<(), Error> {
    if events.iter().any(|e| e.data.n <= 10) {
        return Err("never".into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dead_letter_a_batch_past_its_retries_is_dropped_and_counted() {
    let source = EventSource::start(20, 150, Duration::ZERO).await;
    let (s, _app) = serve("hopeless", &source).await;
    let stats = s.stats().route("hopeless", "sse");
    wait_until("the first batch dropped", Duration::from_secs(30), || {
        stats
            .queues()
            .get(&source.url)
            .is_some_and(|c| c.dropped == 10 && c.acked == 10)
    })
    .await;
    s.shutdown().await.unwrap();
}

// ---- resume = true: a killed process continues after the last settled event ----

static RESUMED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[route(
    sse,
    crate = "worker_http",
    url = "http://127.0.0.1:9/unused",
    connection = "feed",
    bulk_size = 20,
    bulk_flush_interval = "10ms",
    resume = true
)]
async fn resumed(events: Vec<Event<Tick>>) {
    // Slow enough that the process is killed mid-stream.
    tokio::time::sleep(Duration::from_millis(5)).await;
    RESUMED
        .lock()
        .unwrap()
        .extend(events.iter().map(|e| e.data.n));
}

fn process(source: &EventSource) -> (App, tokio::task::JoinHandle<Result<(), Error>>) {
    let app = App::new();
    let runtime = worker_testkit::runtime(
        &["resumed"],
        [
            ("WORKER_AMQP_URL", "memory://sse-resume"),
            ("WORKER_SSE_FEED_URL", source.url.as_str()),
        ],
    )
    .service(Arc::new(worker_http::sse::SseService::new()))
    .app(app.clone())
    .build();
    (app, tokio::spawn(runtime.run()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_resumes_after_the_last_settled_event() {
    let source = EventSource::start(TOTAL, 1000, Duration::from_micros(200)).await;
    // The first process runs on a runtime of its own, so that it can be
    // killed as SIGKILL would: every task of it at once, no shutdown.
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_first, task) = {
        let _on_first = first.enter();
        process(&source)
    };
    wait_until("a few hundred events", Duration::from_secs(30), || {
        RESUMED.lock().unwrap().len() >= 300
    })
    .await;
    // As SIGKILL would: no shutdown, no final store, every task gone.
    first.shutdown_background();
    drop(task);
    let before = RESUMED.lock().unwrap().clone();
    let stored = worker_core::backend::memory::MemoryBroker::shared("memory://sse-resume")
        .stats(&worker_http::sse::resume_queue("resumed"))
        .expect("the resume queue exists");
    assert_eq!(stored.ready, 1, "one stored point: {stored:?}");
    let (app, task) = process(&source);
    wait_until("every event handled", Duration::from_secs(30), || {
        RESUMED
            .lock()
            .unwrap()
            .iter()
            .collect::<BTreeSet<_>>()
            .len()
            == TOTAL as usize
    })
    .await;
    app.shutdown();
    task.await.unwrap().unwrap();
    let all = RESUMED.lock().unwrap().clone();
    let resumed_from: u32 = source.last_ids.lock().unwrap()[1]
        .as_deref()
        .expect("the second process sends the stored id")
        .parse()
        .unwrap();
    let last_before = *before.last().unwrap();
    assert!(
        resumed_from <= last_before && resumed_from + 200 >= last_before,
        "resumed from {resumed_from}, the first process had handled up to {last_before}"
    );
    let second = &all[before.len()..];
    assert_eq!(
        second.first(),
        Some(&(resumed_from + 1)),
        "no gap: {:?}",
        &second[..5]
    );
    let repeated = before.iter().filter(|n| **n > resumed_from).count();
    println!("resumed after event {resumed_from}: {repeated} events handled twice");
}
