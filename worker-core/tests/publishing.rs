//! `Publisher::send_all` / `publish_all` from a handler on the embedded
//! broker: everything confirmed, or the first failure with how many items
//! before it were confirmed.

use std::sync::Mutex;

use worker_core::backend::broker::PublishError;
use worker_core::testing::TestApp;
use worker_core::{BrokerErrorKind, Error, Message, Publisher};
use worker_macros::route;

/// Doubles every number of the batch into `p_doubled`, in one call.
#[route(amqp, crate = "worker_core", queues = ["p_numbers"], bulk_size = 50,
        bulk_flush_interval = "20ms")]
async fn p_double(msgs: Vec<Message<u64>>, out: Publisher) -> Result<(), Error> {
    let doubled: Vec<u64> = msgs.iter().map(|m| m.body() * 2).collect();
    out.send_all("p_doubled", &doubled).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_all_publishes_every_item_in_order() {
    let t = TestApp::builder()
        .route("p_double")
        .declare("p_doubled")
        .start()
        .await;
    for i in 0..120u64 {
        t.publish("p_numbers", &i).await;
    }
    t.wait_idle().await;
    assert_eq!(t.report("p_numbers").acked, 120);
    let got = t.messages::<u64>("p_doubled");
    assert_eq!(got, (0..120u64).map(|i| i * 2).collect::<Vec<_>>());
    t.shutdown().await.unwrap();
}

/// What `p_partial` saw of its failed publish: confirmed, total, kind, text.
type Seen = (usize, usize, Option<BrokerErrorKind>, String);

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

/// Publishes three items to `p_out` and one to a queue that does not exist,
/// through an exchange-less `publish_all` per queue; notes the error.
#[route(amqp, crate = "worker_core", queues = ["p_in"])]
async fn p_partial(_msgs: Vec<Message>, out: Publisher) -> Result<(), Error> {
    out.publish_all("", "p_out", [1, 2, 3]).await?;
    let err: PublishError = out
        .publish_all("", "p_missing", ["a", "b"])
        .await
        .expect_err("p_missing does not exist");
    SEEN.lock().unwrap().push((
        err.confirmed(),
        err.total(),
        err.kind().cloned(),
        err.to_string(),
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_failure_says_how_many_were_confirmed() {
    let t = TestApp::builder()
        .route("p_partial")
        .declare("p_out")
        .start()
        .await;
    t.publish("p_in", &serde_json::json!({})).await;
    t.wait_idle().await;
    assert_eq!(t.messages::<u32>("p_out"), [1, 2, 3]);
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (confirmed, total, kind, text) = &seen[0];
    assert_eq!((*confirmed, *total), (0, 2));
    assert_eq!(kind, &Some(BrokerErrorKind::Unroutable));
    assert!(
        text.starts_with(
            "message 1 of 2 failed (0 confirmed before it): no queue named `p_missing`"
        ) && text.contains("declare_queue(\"p_missing\")"),
        "{text}"
    );
    t.shutdown().await.unwrap();
}
