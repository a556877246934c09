//! The testing harness as a new user meets it: a handler that fails shows
//! why in the `wait_idle` failure and in the report; what a handler
//! published is read back typed; extra queues are declared by the test.

use std::time::Duration;

use worker_core::testing::TestApp;
use worker_core::{Error, Message, Publisher};
use worker_macros::route;

#[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
struct Order {
    id: u64,
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Accepted {
    order: u64,
}

/// Publishes an event per order to `h_events`, a queue no route consumes.
#[route(amqp, crate = "worker_core", queues = ["h_orders"], bulk_size = 2,
        bulk_flush_interval = "20ms")]
async fn h_accept(msgs: Vec<Message<Order>>, out: Publisher) -> Result<(), Error> {
    for m in &msgs {
        out.send("h_events", &serde_json::json!({ "order": m.body().id }))
            .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_messages_are_read_back_typed() {
    let t = TestApp::builder()
        .route("h_accept")
        .declare("h_events")
        .start()
        .await;
    for id in 1..=3 {
        t.publish("h_orders", &Order { id }).await;
    }
    t.wait_idle().await;
    assert_eq!(t.report("h_orders").acked, 3);
    let events = t.messages::<Accepted>("h_events");
    assert_eq!(events, [1, 2, 3].map(|order| Accepted { order }));
    assert!(t.messages::<Accepted>("h_events").is_empty(), "drained");
    assert!(t.errors("h_accept").is_empty());
    t.shutdown().await.unwrap();
}

/// Without `declare("h_events")` the publish is unroutable: every batch
/// fails and is requeued. The failure text of `wait_idle` says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_says_why_in_the_wait_idle_failure() {
    let t = TestApp::builder().route("h_accept").start().await;
    t.publish("h_orders", &Order { id: 1 }).await;
    let waited = tokio::spawn(async move {
        t.wait_idle_for(Duration::from_millis(300)).await;
    })
    .await;
    let Err(panic) = waited else {
        panic!("idle, although every batch fails");
    };
    let text = panic
        .into_panic()
        .downcast::<String>()
        .map(|s| *s)
        .expect("a formatted panic message");
    assert!(
        text.starts_with("not idle after 300ms:\n  queue `h_orders`: "),
        "{text}"
    );
    assert!(
        text.contains("route `h_accept`: last handler failures:\n    error: "),
        "{text}"
    );
    assert!(text.contains("no queue named `h_events`"), "{text}");
    assert!(text.contains("declare_queue(\"h_events\")"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_and_errors_hold_the_last_failures() {
    let t = TestApp::builder().route("h_accept").start().await;
    t.publish("h_orders", &Order { id: 1 }).await;
    let mut waited = 0;
    while t.report("h_orders").requeued < 2 {
        assert!(waited < 500, "the batch was never requeued twice");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    // The same failure each time: kept once, with its count.
    let errors = t.errors("h_accept");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("error: no queue named `h_events`")
            && errors[0].contains("declare_queue(\"h_events\")")
            && errors[0].ends_with(" times)"),
        "{errors:?}"
    );
    let report = t.report("h_orders");
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(report.errors[0].contains("h_events"), "{report:?}");
    t.shutdown().await.unwrap();
}

/// Distinct failures are all kept, up to `RECENT_FAILURES`, oldest first.
#[test]
fn distinct_failures_are_kept_in_order_and_bounded() {
    let stats = worker_core::backend::metrics::RouteStats::default();
    for i in 0..7 {
        stats.record_failure(format!("error: {i}"));
    }
    stats.record_failure("error: 6".to_owned());
    assert_eq!(
        stats.recent_failures(),
        [
            "error: 2",
            "error: 3",
            "error: 4",
            "error: 5",
            "error: 6 (2 times)"
        ]
    );
}

#[test]
fn reading_a_queue_that_does_not_exist_says_how_to_declare_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(TestApp::builder().route("h_accept").start());
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.messages::<Accepted>("h_nowhere");
    }))
    .expect_err("no such queue");
    let text = panic.downcast::<String>().map(|s| *s).unwrap();
    assert!(
        text.contains("queue `h_nowhere` does not exist")
            && text.contains("TestApp::builder().declare(\"h_nowhere\")"),
        "{text}"
    );
    rt.block_on(t.shutdown()).unwrap();
}

/// An error with a source, as a client library returns it.
#[derive(Debug)]
struct Unreachable(std::io::Error);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stock service unreachable")
    }
}

impl std::error::Error for Unreachable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[route(amqp, crate = "worker_core", queues = ["h_chained"], bulk_size = 1,
        on_exception = reject)]
async fn h_chained(_msgs: Vec<Message<Order>>) -> Result<(), Error> {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    Err(Unreachable(io).into())
}

/// The log line and the recorded failure of a handler error carry its
/// whole source chain, not only the outer message.
#[tokio::test]
async fn a_handler_error_is_logged_with_its_source_chain() {
    let logs = worker_testkit::Logs::capture();
    let t = TestApp::builder().route("h_chained").start().await;
    t.publish("h_chained", &Order { id: 1 }).await;
    t.wait_idle_for(Duration::from_secs(10)).await;
    let chain = "stock service unreachable: connection refused";
    let errors = t.errors("h_chained");
    assert!(errors.iter().any(|e| e.contains(chain)), "{errors:?}");
    let lines = logs.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("handler failed") && l.contains(chain)),
        "{lines:#?}"
    );
    t.shutdown().await.unwrap();
}
