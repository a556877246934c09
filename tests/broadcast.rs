//! The broadcast snippet of docs/routes.md, as written there, compiled and
//! run on the embedded broker (tests/readme.rs checks that every snippet of
//! the documentation is in a compiled file).

use worker::__private_0_1_0::RouteKind;
use worker::testing::TestApp;
use worker::{route, Message};

// docs/routes.md, "A queue per process: broadcasts".
#[rustfmt::skip]
// Every running process drops its cached prices when one changes.
#[route(amqp, queues = ["price_changes"], exchange = "prices", exchange_type = fanout,
        broadcast = true, declare = true)]
async fn price_changes(msgs: Vec<Message<serde_json::Value>>) {
    for m in &msgs {
        println!("forget the cached price of {}", m.body()["sku"]);
    }
}

#[tokio::test]
async fn a_broadcast_route_consumes_a_queue_of_its_own() {
    let t = TestApp::builder().route("price_changes").start().await;
    for sku in ["a", "b"] {
        t.publish_to("prices", "", &serde_json::json!({ "sku": sku }))
            .await;
    }
    t.wait_idle().await;
    // Counted under the route's queue name, not the process's queue.
    assert_eq!(t.report("price_changes").acked, 2);
    // The route's name is no queue of the broker: the process's queue is.
    assert!(t.broker().stats("price_changes").is_none());
    t.shutdown().await.unwrap();
}

#[test]
fn broadcast_is_registered_and_checked_in_hand_built_records() {
    let routes = worker::__private_0_1_0::registry::routes();
    let route = routes
        .iter()
        .find(|r| r.name == "price_changes")
        .expect("registered");
    let RouteKind::Amqp { options, .. } = route.kind else {
        panic!("an amqp route");
    };
    assert!(options.broadcast);
    assert!(options.problems().is_empty(), "{:?}", options.problems());
    assert!(options.shared_queues().is_empty());
    let mut without_exchange = options;
    without_exchange.exchange = None;
    assert!(
        without_exchange
            .problems()
            .iter()
            .any(|p| p.contains("`broadcast` needs `exchange")),
        "{:?}",
        without_exchange.problems()
    );
    let mut quorum = options;
    quorum.quorum = true;
    assert!(
        quorum
            .problems()
            .iter()
            .any(|p| p.contains("`queue_type` does not apply to a `broadcast` route")),
        "{:?}",
        quorum.problems()
    );
}
