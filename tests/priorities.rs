//! The priority snippets of docs/routes.md, as written there, compiled and
//! run on the embedded broker (tests/readme.rs checks that every snippet of
//! the documentation is in a compiled file).

use std::sync::Mutex;

use tokio::sync::Semaphore;
use worker::__private_0_1_0::RouteKind;
use worker::testing::TestApp;
use worker::{route, Error, Message, Properties, Publisher};

// docs/routes.md, "Priorities".
#[rustfmt::skip]
// Urgent jobs first: a classic queue with 10 priority levels.
#[route(amqp, queues = ["jobs"], declare = true, max_priority = 10)]
async fn jobs(msgs: Vec<Message<serde_json::Value>>) {
    println!("{} jobs", msgs.len());
}

async fn enqueue(
    publisher: &Publisher,
    job: &serde_json::Value,
    urgent: bool,
) -> Result<(), Error> {
    let priority = if urgent { 9 } else { 1 };
    publisher
        .publish_with(
            "",
            "jobs",
            job,
            Properties::default().with_priority(priority),
        )
        .await
}

/// What `ordered` handled, in order.
static HANDLED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Lets `ordered` handle one message per permit.
static GATE: Semaphore = Semaphore::const_new(0);

// One message at a time, so that the queue, not the consumer's window,
// holds the waiting messages.
#[route(amqp, queues = ["ordered_jobs"], declare = true, max_priority = 10, prefetch = 1)]
async fn ordered(msgs: Vec<Message<String>>) {
    GATE.acquire().await.expect("open").forget();
    let mut handled = HANDLED.lock().unwrap();
    handled.extend(msgs.iter().map(|m| m.body().clone()));
}

#[tokio::test]
async fn the_snippet_declares_a_priority_queue_and_publishes_with_priorities() {
    let t = TestApp::builder().route("jobs").start().await;
    let publisher = t.app().publisher().unwrap();
    enqueue(&publisher, &serde_json::json!({ "id": 1 }), true)
        .await
        .unwrap();
    t.wait_idle().await;
    assert_eq!(t.report("jobs").acked, 1);
    t.shutdown().await.unwrap();
}

#[tokio::test]
async fn higher_priorities_are_handled_first() {
    let t = TestApp::builder().route("ordered").start().await;
    let publisher = t.app().publisher().unwrap();
    // The first is delivered at once and holds the window; the rest wait
    // in the queue, where priorities order them.
    let sent = [
        ("first", 0),
        ("low", 1),
        ("none", 255),
        ("high", 9),
        ("top", 200),
        ("low2", 1),
    ];
    for (body, priority) in sent {
        let properties = match priority {
            255 => Properties::default(),
            p => Properties::default().with_priority(p),
        };
        publisher
            .publish_with("", "ordered_jobs", &body, properties)
            .await
            .unwrap();
    }
    GATE.add_permits(sent.len());
    t.wait_idle().await;
    assert_eq!(
        *HANDLED.lock().unwrap(),
        ["first", "top", "high", "low", "low2", "none"],
        "top (200) counts as 10, above high (9); none counts as 0"
    );
    t.shutdown().await.unwrap();
}

#[test]
fn max_priority_is_registered_and_checked_in_hand_built_records() {
    let routes = worker::__private_0_1_0::registry::routes();
    let route = routes
        .iter()
        .find(|r| r.name == "jobs")
        .expect("registered");
    let RouteKind::Amqp { options, .. } = route.kind else {
        panic!("an amqp route");
    };
    assert_eq!(options.max_priority, Some(10));
    assert!(options.declare && !options.quorum);
    assert!(options.problems().is_empty(), "{:?}", options.problems());
    let mut on_quorum = options;
    on_quorum.quorum = true;
    assert!(
        on_quorum
            .problems()
            .iter()
            .any(|p| p.contains("RabbitMQ refuses it on a quorum queue")),
        "{:?}",
        on_quorum.problems()
    );
    let mut zero = options;
    zero.max_priority = Some(0);
    assert!(
        zero.problems()
            .iter()
            .any(|p| p.contains("`max_priority` must be in 1..=255, got `0`")),
        "{:?}",
        zero.problems()
    );
}
