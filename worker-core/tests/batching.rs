//! The batching engine on tokio's paused clock and the embedded broker:
//! flush deadlines, `WORKER_FLUSH_TIMEOUT`, size flushes, shutdown handing
//! over the partial batch, concurrency, reconnection, retries.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use worker_core::testing::TestApp;
use worker_core::{Error, Message};
use worker_macros::route;

/// `(route, batch size, tokio time when the handler ran)`.
static CALLS: Mutex<Vec<(&'static str, usize, Instant)>> = Mutex::new(Vec::new());

fn calls(route: &str) -> Vec<(usize, Instant)> {
    CALLS
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.0 == route)
        .map(|c| (c.1, c.2))
        .collect()
}

fn record(route: &'static str, n: usize) {
    CALLS.lock().unwrap().push((route, n, Instant::now()));
}

/// `route` alone on a test app, with one configuration variable set.
async fn start(route: &str, (var, value): (&str, &str)) -> TestApp {
    TestApp::builder()
        .route(route)
        .env(var, value)
        .start()
        .await
}

/// A route `$name` with the given options that records each batch's size
/// and time.
macro_rules! recording_route {
    ($name:ident, $($option:tt)*) => {
        #[route(amqp, crate = "worker_core", $($option)*)]
        async fn $name(msgs: Vec<Message>) {
            record(stringify!($name), msgs.len());
        }
    };
}

recording_route! { deadline, queues = ["b.deadline"], bulk_size = 10, bulk_flush_interval = "5s" }

#[tokio::test(start_paused = true)]
async fn a_partial_batch_flushes_exactly_at_its_deadline() {
    let t = TestApp::builder().route("deadline").start().await;
    let t0 = Instant::now();
    for i in 0..3 {
        t.publish("b.deadline", &i).await;
    }
    // Three messages, then 12 more: the first batch is full at 10 and goes at
    // once; the remaining 5 wait for their deadline, measured from the 11th
    // message, which arrives 2s later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t1 = Instant::now();
    for i in 0..12 {
        t.publish("b.deadline", &i).await;
    }
    t.wait_idle_for(Duration::from_secs(30)).await;
    let got = calls("deadline");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, 10);
    assert_eq!(got[0].1, t1, "the full batch is not delayed");
    assert_eq!(got[1].0, 5);
    assert_eq!(
        got[1].1,
        t1 + Duration::from_secs(5),
        "flushed at the deadline, not earlier or later"
    );
    assert!(got[1].1 - t0 == Duration::from_secs(7));
    t.shutdown().await.unwrap();
}

recording_route! { env_timeout, queues = ["b.env"], bulk_size = 100 }

#[tokio::test(start_paused = true)]
async fn worker_flush_timeout_is_the_default_deadline() {
    let t = start("env_timeout", ("WORKER_FLUSH_TIMEOUT", "2.5")).await;
    let t0 = Instant::now();
    t.publish("b.env", &1).await;
    t.wait_idle_for(Duration::from_secs(30)).await;
    let got = calls("env_timeout");
    assert_eq!(got, vec![(1, t0 + Duration::from_millis(2500))]);
    t.shutdown().await.unwrap();
}

recording_route! { shutdown, queues = ["b.shutdown"], bulk_size = 50, bulk_flush_interval = "600s" }

#[tokio::test(start_paused = true)]
async fn shutdown_hands_the_partial_batch_to_the_handler_and_settles_it() {
    let t = TestApp::builder().route("shutdown").start().await;
    for i in 0..7 {
        t.publish("b.shutdown", &i).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        calls("shutdown").is_empty(),
        "nothing flushes before the deadline"
    );
    let broker = t.broker().clone();
    let stats = t.stats().clone();
    let t0 = Instant::now();
    t.shutdown().await.unwrap();
    assert_eq!(calls("shutdown"), vec![(7, t0)]);
    let s = broker.stats("b.shutdown").unwrap();
    assert_eq!((s.ready, s.unacked, s.acked), (0, 0, 7), "{s:?}");
    let route = stats
        .all()
        .into_iter()
        .find(|r| r.route == "shutdown")
        .unwrap();
    assert_eq!(
        route
            .flush_shutdown
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

static SLOW_STARTED: Mutex<u32> = Mutex::new(0);

#[route(amqp, crate = "worker_core", queues = ["b.slow"], bulk_size = 2, max_concurrency = 2)]
async fn slow(_msgs: Vec<Message>) {
    *SLOW_STARTED.lock().unwrap() += 1;
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

#[tokio::test(start_paused = true)]
async fn unfinished_batches_are_requeued_at_the_shutdown_timeout() {
    let t = start("slow", ("WORKER_SHUTDOWN_TIMEOUT", "10")).await;
    for i in 0..6 {
        t.publish("b.slow", &i).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // max_concurrency = 2: two batches of two run, the third waits.
    assert_eq!(*SLOW_STARTED.lock().unwrap(), 2);
    let broker = t.broker().clone();
    let stats = t.stats().clone();
    let t0 = Instant::now();
    t.shutdown().await.unwrap();
    // Counted too: 4 messages of the two aborted batches, 2 never handed over.
    let requeued = stats
        .all()
        .into_iter()
        .find(|r| r.route == "slow")
        .and_then(|r| r.queues().get("b.slow").copied())
        .unwrap()
        .requeued;
    assert_eq!(requeued, 6);
    // The third batch, waiting for a slot, does not hold shutdown past the
    // timeout either.
    assert!(
        t0.elapsed() >= Duration::from_secs(10) && t0.elapsed() < Duration::from_secs(11),
        "{:?}",
        t0.elapsed()
    );
    let s = broker.stats("b.slow").unwrap();
    assert_eq!(
        (s.ready, s.unacked, s.acked),
        (6, 0, 0),
        "nothing lost: {s:?}"
    );
}

static RETRIED: Mutex<Vec<(u32, Instant)>> = Mutex::new(Vec::new());

#[route(amqp, crate = "worker_core", queues = ["b.retry"], max_retries = 3,
        retry_backoff = "1s", dead_letter = "b.retry.dead", on_exception = requeue)]
async fn retry(msgs: Vec<Message>) -> Result<(), Error> {
    for m in &msgs {
        RETRIED
            .lock()
            .unwrap()
            .push((m.retry_count(), Instant::now()));
    }
    Err(Error::msg("always fails"))
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially_then_dead_letter() {
    let t = TestApp::builder().route("retry").start().await;
    let t0 = Instant::now();
    t.publish("b.retry", &serde_json::json!({"id": 1})).await;
    t.wait_idle_for(Duration::from_secs(60)).await;
    let seen = RETRIED.lock().unwrap().clone();
    let counts: Vec<u32> = seen.iter().map(|s| s.0).collect();
    assert_eq!(counts, vec![0, 1, 2, 3], "attempt count is exact");
    let delays: Vec<Duration> = seen.iter().map(|s| s.1 - t0).collect();
    assert_eq!(
        delays,
        vec![
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(3),
            Duration::from_secs(7)
        ],
        "1s, 2s, 4s backoff"
    );
    let r = t.report("b.retry");
    assert_eq!(
        (r.retried, r.dead_lettered, r.requeued, r.acked),
        (3, 1, 0, 0),
        "{r:?}"
    );
    let dead = t.broker().stats("b.retry.dead").unwrap();
    assert_eq!(dead.ready, 1);
    t.shutdown().await.unwrap();
}

recording_route! { two_queues, queues = ["b.q1", "b.q2"], bulk_size = 4, bulk_flush_interval = "100ms" }

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_route_consumes_several_queues_and_survives_a_dropped_connection() {
    let t = TestApp::builder().route("two_queues").start().await;
    for i in 0..10 {
        t.publish(if i % 2 == 0 { "b.q1" } else { "b.q2" }, &i)
            .await;
    }
    t.wait_idle().await;
    t.drop_connection();
    // The consumer reconnects (backoff starts at ~100ms) and keeps consuming.
    for i in 0..10 {
        t.publish("b.q2", &i).await;
    }
    t.wait_idle().await;
    let total: usize = calls("two_queues").iter().map(|c| c.0).sum();
    assert_eq!(total, 20);
    assert_eq!(t.report("b.q1").acked, 5);
    assert_eq!(t.report("b.q2").acked, 15);
    t.shutdown().await.unwrap();
}

recording_route! { lonely, queues = ["b.lonely"] }

recording_route! { steady, queues = ["b.steady"] }

fn route_ready(t: &TestApp, name: &str) -> bool {
    t.stats()
        .all()
        .iter()
        .any(|s| s.route == name && s.is_ready())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_queue_stops_only_its_route_until_it_is_recreated() {
    let t = TestApp::builder()
        .route("lonely")
        .route("steady")
        .start()
        .await;
    assert!(t.broker().delete_queue("b.lonely"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while route_ready(&t, "lonely") {
        assert!(
            Instant::now() < deadline,
            "the route never noticed its queue is gone"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The other route keeps consuming.
    for i in 0..5 {
        t.publish("b.steady", &i).await;
    }
    t.wait_idle().await;
    assert_eq!(t.report("b.steady").acked, 5);
    assert!(!route_ready(&t, "lonely"));
    // Re-created: the route recovers and consumes.
    t.broker()
        .declare_queue(
            "b.lonely",
            worker_core::QueueOptions::default().with_durable(true),
        )
        .unwrap();
    t.publish("b.lonely", &1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.report("b.lonely").acked < 1 {
        assert!(Instant::now() < deadline, "the route did not recover");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(route_ready(&t, "lonely"));
    t.shutdown().await.unwrap();
}

/// `(first delivery, owned at the start, owned at the end)` of each call of
/// `fenced`.
static FENCED: Mutex<Vec<(bool, bool, bool)>> = Mutex::new(Vec::new());

/// Set once `fenced` holds its first delivery.
static HOLDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Holds its first delivery until the message's ownership is lost;
/// handles the redelivery at once.
#[route(amqp, crate = "worker_core", queues = ["b.fenced"], bulk_size = 1)]
async fn fenced(msgs: Vec<Message>) {
    let m = &msgs[0];
    let first = !m.redelivered();
    let at_start = m.is_owned();
    if first {
        HOLDING.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(30), m.ownership_lost())
            .await
            .expect("ownership lost when the connection dropped");
    }
    FENCED.lock().unwrap().push((first, at_start, m.is_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_revokes_the_ownership_of_the_messages_in_flight() {
    let t = TestApp::builder().route("fenced").start().await;
    t.publish("b.fenced", &1).await;
    let held = async {
        while !HOLDING.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("the first delivery is held");
    assert!(FENCED.lock().unwrap().is_empty(), "held until the loss");
    t.drop_connection();
    t.wait_idle().await;
    let both = async {
        while FENCED.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), both)
        .await
        .unwrap_or_else(|_| panic!("two calls: {:?}", FENCED.lock().unwrap()));
    // The held call saw its ownership go; the redelivery is owned
    // throughout and acked.
    assert_eq!(
        *FENCED.lock().unwrap(),
        vec![(true, true, false), (false, true, true)]
    );
    assert_eq!(t.report("b.fenced").acked, 1);
    t.shutdown().await.unwrap();
}
