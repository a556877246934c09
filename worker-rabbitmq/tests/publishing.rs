//! `Publisher::send_all` / `publish_all` against the real RabbitMQ: a
//! batch republished pipelined, in order, with its confirms; a publish to
//! a missing queue fails with how many items were confirmed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use worker_core::backend::broker::{Broker, Channel, Deliveries, QueueOptions};
use worker_core::{App, Error, Message, Publisher};
use worker_macros::route;
use worker_rabbitmq::{RabbitBroker, RabbitConnector, RabbitOptions};
use worker_testkit::amqp_url;

const IN: &str = "worker-pub.in";
const OUT: &str = "worker-pub.out";
const MISSING: &str = "worker-pub.missing";

static FAILURES: Mutex<Vec<(usize, usize, String)>> = Mutex::new(Vec::new());

/// Republishes each batch to `OUT` in one `send_all`, then tries a queue
/// that does not exist and notes the error.
#[route(amqp, crate = "worker_core", queues = ["worker-pub.in"], bulk_size = 100,
        bulk_flush_interval = "50ms", declare = true)]
async fn republish(msgs: Vec<Message<u64>>, out: Publisher) -> Result<(), Error> {
    let ids: Vec<u64> = msgs.iter().map(|m| *m.body()).collect();
    out.send_all(OUT, &ids).await?;
    if ids.contains(&0) {
        let e = out.send_all(MISSING, [1, 2, 3]).await.unwrap_err();
        FAILURES
            .lock()
            .unwrap()
            .push((e.confirmed(), e.total(), e.to_string()));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_republished_pipelined_and_in_order() {
    let admin = RabbitBroker::new(&amqp_url(), RabbitOptions::named("publishing-test")).unwrap();
    let ch = admin
        .channel()
        .await
        .expect("RabbitMQ (scripts/rabbitmq start)");
    for q in [IN, OUT, MISSING] {
        // Left by an earlier run, or absent: either way, gone.
        let _ = worker_testkit::rabbitmqctl_output(&["delete_queue", q]);
    }
    ch.declare_queue(OUT, &QueueOptions::default())
        .await
        .unwrap();
    let app = App::new();
    let runtime = worker_testkit::runtime(&["republish"], [("WORKER_AMQP_URL", amqp_url())])
        .connector(Arc::new(RabbitConnector))
        .app(app.clone())
        .build();
    let stats = runtime.stats().clone();
    let task = tokio::spawn(runtime.run());
    worker_testkit::wait_until("the route to consume", Duration::from_secs(20), || {
        stats.route("republish", "amqp").is_ready()
    })
    .await;
    let props = worker_core::Properties::default();
    for i in 0..500u64 {
        ch.publish("", IN, i.to_string().as_bytes(), &props)
            .await
            .unwrap();
    }
    let mut out = ch.consume(&[OUT], "verify").await.unwrap();
    let mut got = Vec::new();
    while got.len() < 500 {
        let d = tokio::time::timeout(Duration::from_secs(20), out.next())
            .await
            .expect("the republished messages")
            .unwrap()
            .unwrap();
        got.push(
            String::from_utf8(d.body.to_vec())
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
        ch.ack(d.tag, false).await.unwrap();
    }
    assert_eq!(got, (0..500).collect::<Vec<_>>());
    let failures = FAILURES.lock().unwrap().clone();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (confirmed, total, text) = &failures[0];
    assert_eq!((*confirmed, *total), (0, 3), "{text}");
    assert!(
        text.contains("no queue named `worker-pub.missing`"),
        "{text}"
    );
    app.shutdown();
    task.await.unwrap().unwrap();
}
