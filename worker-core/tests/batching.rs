//! The batching engine on tokio's paused clock and the embedded broker:
//! flush deadlines, `WORKER_FLUSH_TIMEOUT`, size flushes, shutdown handing
//! over the partial batch, concurrency, reconnection, retries.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use worker_core::registry::{AmqpOptions, BoxFuture, Location, Route, RouteKind};
use worker_core::testing::TestApp;
use worker_core::{Action, App, Batch, Error, Message};

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

macro_rules! recording_route {
    ($fn_name:ident, $name:literal, $options:expr) => {{
        fn $fn_name(batch: Batch, _app: App) -> BoxFuture<'static, Result<(), Error>> {
            Box::pin(async move {
                let msgs: Vec<Message> = batch.decode();
                CALLS
                    .lock()
                    .unwrap()
                    .push(($name, msgs.len(), Instant::now()));
                Ok(())
            })
        }
        Route {
            name: $name,
            module: module_path!(),
            location: Location {
                file: file!(),
                line: line!(),
                column: column!(),
            },
            kind: RouteKind::Amqp {
                options: $options,
                handler: $fn_name,
            },
        }
    }};
}

static DEADLINE: Route = recording_route!(
    deadline_handler,
    "deadline",
    AmqpOptions {
        bulk_size: 10,
        bulk_flush_interval: Some(Duration::from_secs(5)),
        ..AmqpOptions::new(&["b.deadline"])
    }
);

#[tokio::test(start_paused = true)]
async fn a_partial_batch_flushes_exactly_at_its_deadline() {
    let t = TestApp::builder().route_record(&DEADLINE).start().await;
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

static ENV_TIMEOUT: Route = recording_route!(
    env_handler,
    "env_timeout",
    AmqpOptions {
        bulk_size: 100,
        ..AmqpOptions::new(&["b.env"])
    }
);

#[tokio::test(start_paused = true)]
async fn worker_flush_timeout_is_the_default_deadline() {
    let t = TestApp::builder()
        .route_record(&ENV_TIMEOUT)
        .env("WORKER_FLUSH_TIMEOUT", "2.5")
        .start()
        .await;
    let t0 = Instant::now();
    t.publish("b.env", &1).await;
    t.wait_idle_for(Duration::from_secs(30)).await;
    let got = calls("env_timeout");
    assert_eq!(got, vec![(1, t0 + Duration::from_millis(2500))]);
    t.shutdown().await.unwrap();
}

static SHUTDOWN: Route = recording_route!(
    shutdown_handler,
    "shutdown",
    AmqpOptions {
        bulk_size: 50,
        bulk_flush_interval: Some(Duration::from_secs(600)),
        ..AmqpOptions::new(&["b.shutdown"])
    }
);

#[tokio::test(start_paused = true)]
async fn shutdown_hands_the_partial_batch_to_the_handler_and_settles_it() {
    let t = TestApp::builder().route_record(&SHUTDOWN).start().await;
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

fn slow_handler(batch: Batch, _app: App) -> BoxFuture<'static, Result<(), Error>> {
    Box::pin(async move {
        let _msgs: Vec<Message> = batch.decode();
        *SLOW_STARTED.lock().unwrap() += 1;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    })
}

static SLOW: Route = Route {
    name: "slow",
    module: module_path!(),
    location: Location {
        file: file!(),
        line: line!(),
        column: column!(),
    },
    kind: RouteKind::Amqp {
        options: AmqpOptions {
            bulk_size: 2,
            max_concurrency: 2,
            ..AmqpOptions::new(&["b.slow"])
        },
        handler: slow_handler,
    },
};

#[tokio::test(start_paused = true)]
async fn unfinished_batches_are_requeued_at_the_shutdown_timeout() {
    let t = TestApp::builder()
        .route_record(&SLOW)
        .env("WORKER_SHUTDOWN_TIMEOUT", "10")
        .start()
        .await;
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

fn failing_handler(batch: Batch, _app: App) -> BoxFuture<'static, Result<(), Error>> {
    Box::pin(async move {
        let msgs: Vec<Message> = batch.decode();
        for m in &msgs {
            RETRIED
                .lock()
                .unwrap()
                .push((m.retry_count(), Instant::now()));
        }
        Err(Error::msg("always fails"))
    })
}

static RETRY: Route = Route {
    name: "retry",
    module: module_path!(),
    location: Location {
        file: file!(),
        line: line!(),
        column: column!(),
    },
    kind: RouteKind::Amqp {
        options: AmqpOptions {
            max_retries: Some(3),
            retry_backoff: Some(Duration::from_secs(1)),
            dead_letter: Some("b.retry.dead"),
            on_exception: Action::Requeue,
            ..AmqpOptions::new(&["b.retry"])
        },
        handler: failing_handler,
    },
};

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially_then_dead_letter() {
    let t = TestApp::builder().route_record(&RETRY).start().await;
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

static TWO_QUEUES: Route = recording_route!(
    two_queues_handler,
    "two_queues",
    AmqpOptions {
        bulk_size: 4,
        bulk_flush_interval: Some(Duration::from_millis(100)),
        ..AmqpOptions::new(&["b.q1", "b.q2"])
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_route_consumes_several_queues_and_survives_a_dropped_connection() {
    let t = TestApp::builder().route_record(&TWO_QUEUES).start().await;
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

static LONELY: Route = recording_route!(lonely_handler, "lonely", AmqpOptions::new(&["b.lonely"]));
static STEADY: Route = recording_route!(steady_handler, "steady", AmqpOptions::new(&["b.steady"]));

fn route_ready(t: &TestApp, name: &str) -> bool {
    t.stats()
        .all()
        .iter()
        .any(|s| s.route == name && s.is_ready())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_queue_stops_only_its_route_until_it_is_recreated() {
    let t = TestApp::builder()
        .route_record(&LONELY)
        .route_record(&STEADY)
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
            worker_core::QueueOptions {
                durable: true,
                ..Default::default()
            },
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
