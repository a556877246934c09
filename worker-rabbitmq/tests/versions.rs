//! What differs between RabbitMQ versions, on the test broker of the
//! version in `RABBITMQ_VERSION` (3.10, 4.0 or 4.3, default 4.3; URL from
//! `WORKER_TEST_AMQP_URL`). The test command runs this file on all three
//! (docs/clusters.md, "Supported RabbitMQ versions"):
//!
//! - a message that always fails on a quorum queue with `delivery_limit =
//!   3` is delivered 4 times, with `delivery_count()` 1, 2, 3, 4, then
//!   dead-lettered by the broker;
//! - a route that requeues on a quorum queue without a `delivery_limit` is
//!   warned about on 4.0 and 4.3 (their default limit of 20), not on 3.10;
//! - a route whose messages can stay unacked past 30 min sets its own
//!   `x-consumer-timeout` on the quorum queue it declares on 4.3 (4.3
//!   refuses the argument on classic queues, and times none out), and is
//!   warned about before;
//! - `consumer_priority` is the consumer's `x-priority` on every version;
//! - a consumer the broker cancels resubscribes, and is counted.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, QueueDeleteOptions};
use lapin::BasicProperties;
use worker_core::backend::broker::{Broker, BrokerVersion};
use worker_core::{Error, Message};
use worker_macros::route;
use worker_rabbitmq::{RabbitBroker, RabbitConnector, RabbitOptions};
use worker_testkit::{amqp_url, rabbitmqctl, wait_until, Logs};

const LIMITED: &str = "worker-versions.limited";
const LIMITED_DLQ: &str = "worker-versions.limited.dlq";

/// The version the test command started (`RABBITMQ_VERSION`).
fn expected_series() -> String {
    std::env::var("RABBITMQ_VERSION").unwrap_or_else(|_| "4.3".to_owned())
}

/// The version the broker reports; checked against `RABBITMQ_VERSION`.
async fn broker_version() -> BrokerVersion {
    let broker = RabbitBroker::new(&amqp_url(), RabbitOptions::named("versions")).unwrap();
    broker.channel().await.expect("the test broker answers");
    let version = broker.version().expect("the broker's version is read");
    let series = format!("{}.{}", version.major, version.minor);
    assert_eq!(
        series,
        expected_series(),
        "WORKER_TEST_AMQP_URL reaches RabbitMQ {version}, RABBITMQ_VERSION says {}",
        expected_series()
    );
    version
}

async fn delete_queues(queues: &[&str]) {
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .unwrap();
    let channel = connection.create_channel().await.unwrap();
    for q in queues {
        channel
            .queue_delete((*q).into(), QueueDeleteOptions::default())
            .await
            .unwrap();
    }
    let _ = connection.close(200, "bye".into()).await;
}

async fn publish(queue: &str, body: &[u8]) {
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let _ = connection.close(200, "bye".into()).await;
}

/// Messages ready in `queue`.
fn ready(queue: &str) -> Option<u64> {
    rabbitmqctl(&["-q", "list_queues", "name", "messages_ready"])
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(name, _)| name.trim() == queue)
        .and_then(|(_, n)| n.trim().parse().ok())
}

static COUNTS: Mutex<Vec<Option<u32>>> = Mutex::new(Vec::new());

#[route(amqp, crate = "worker_core", queues = ["worker-versions.limited"], bulk_size = 1,
        declare = true, queue_type = quorum, delivery_limit = 3,
        dead_letter = "worker-versions.limited.dlq")]
async fn v_limited(msgs: Vec<Message<u32>>) -> Result<(), Error> {
    COUNTS
        .lock()
        .unwrap()
        .extend(msgs.iter().map(|m| m.delivery_count()));
    Err("always fails".into())
}

#[route(amqp, crate = "worker_core", queues = ["worker-versions.default-limit"],
        declare = true, queue_type = quorum)]
async fn v_default_limit(_msgs: Vec<Message<u32>>) {}

#[route(amqp, crate = "worker_core", queues = ["worker-versions.slow"], declare = true,
        queue_type = quorum, on_exception = reject, bulk_size = 100, timeout = "20m",
        bisect = true, consumer_priority = 7)]
async fn v_slow(_msgs: Vec<Message<u32>>) {}

#[route(amqp, crate = "worker_core", queues = ["worker-versions.cancelled"], declare = true)]
async fn v_cancelled(_msgs: Vec<Message<u32>>) {}

fn runtime(routes: &[&str]) -> worker_core::backend::runtime::Runtime {
    worker_testkit::runtime(routes, [("WORKER_AMQP_URL", amqp_url())])
        .connector(Arc::new(RabbitConnector))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_limit_dead_letters_after_limit_plus_one_deliveries() {
    let version = broker_version().await;
    delete_queues(&[LIMITED, LIMITED_DLQ]).await;
    let runtime = runtime(&["v_limited"]);
    let (app, stats) = (runtime.app().clone(), runtime.stats().clone());
    let task = tokio::spawn(runtime.run());
    wait_until("the route to consume", Duration::from_secs(30), || {
        stats.route("v_limited", "amqp").is_ready()
    })
    .await;
    publish(LIMITED, b"7").await;
    wait_until("the message dead-lettered", Duration::from_secs(60), || {
        ready(LIMITED_DLQ) == Some(1)
    })
    .await;
    app.shutdown();
    task.await.unwrap().unwrap();
    let counts = COUNTS.lock().unwrap().clone();
    println!("[versions] RabbitMQ {version}: delivery_limit = 3, deliveries {counts:?}, then dead-lettered");
    assert_eq!(
        counts,
        [Some(1), Some(2), Some(3), Some(4)],
        "on RabbitMQ {version}"
    );
    assert_eq!(ready(LIMITED), Some(0));
    delete_queues(&[LIMITED, LIMITED_DLQ]).await;
}

/// `list_consumers` of `queue`: its consumers' arguments.
fn consumer_arguments(queue: &str) -> String {
    rabbitmqctl(&["-q", "list_consumers", "queue_name", "arguments"])
        .lines()
        .filter(|l| l.starts_with(&format!("{queue}\t")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn warnings_and_consumer_arguments_follow_the_version() {
    let version = broker_version().await;
    let series = expected_series();
    delete_queues(&["worker-versions.default-limit", "worker-versions.slow"]).await;
    let logs = Logs::capture();
    let runtime = runtime(&["v_default_limit", "v_slow"]);
    let (app, stats) = (runtime.app().clone(), runtime.stats().clone());
    let task = tokio::spawn(runtime.run());
    wait_until("the routes to consume", Duration::from_secs(30), || {
        stats.route("v_default_limit", "amqp").is_ready()
            && stats.route("v_slow", "amqp").is_ready()
    })
    .await;
    let slow = consumer_arguments("worker-versions.slow");
    let limit_warning = logs.matching("WARN", "a delivery limit of 20");
    let timeout_warning = logs.matching("WARN", "default `consumer_timeout` of 30 min");
    app.shutdown();
    task.await.unwrap().unwrap();
    println!("[versions] RabbitMQ {version}: consumer arguments {slow}; default-limit warning: {limit_warning:?}; consumer-timeout warning: {timeout_warning:?}");
    assert!(
        slow.contains("x-priority"),
        "x-priority on {version}: {slow}"
    );
    match series.as_str() {
        "3.10" => {
            assert!(limit_warning.is_empty(), "{limit_warning:?}");
            assert_eq!(timeout_warning.len(), 1, "{:?}", logs.lines());
            assert!(!slow.contains("x-consumer-timeout"), "{slow}");
        }
        "4.0" => {
            assert_eq!(limit_warning.len(), 1, "{:?}", logs.lines());
            assert_eq!(timeout_warning.len(), 1, "{:?}", logs.lines());
            assert!(!slow.contains("x-consumer-timeout"), "{slow}");
        }
        _ => {
            assert_eq!(limit_warning.len(), 1, "{:?}", logs.lines());
            assert!(timeout_warning.is_empty(), "{timeout_warning:?}");
            assert!(slow.contains("x-consumer-timeout"), "{slow}");
        }
    }
    if let Some(w) = limit_warning.first() {
        assert!(
            w.contains(&format!(
                "RabbitMQ {version} gives the quorum queue `worker-versions.default-limit`"
            )),
            "{w}"
        );
        assert!(w.contains("route=\"v_default_limit\""), "{w}");
    }
    delete_queues(&["worker-versions.default-limit", "worker-versions.slow"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_the_broker_cancels_resubscribes_and_is_counted() {
    broker_version().await;
    delete_queues(&["worker-versions.cancelled"]).await;
    let runtime = runtime(&["v_cancelled"]);
    let (app, stats) = (runtime.app().clone(), runtime.stats().clone());
    let route = stats.route("v_cancelled", "amqp");
    let task = tokio::spawn(runtime.run());
    wait_until("the route to consume", Duration::from_secs(30), || {
        route.is_ready()
    })
    .await;
    // Deleting the queue cancels its consumers (`basic.cancel`).
    delete_queues(&["worker-versions.cancelled"]).await;
    wait_until("the cancellation counted", Duration::from_secs(30), || {
        route.cancelled.load(Ordering::Relaxed) == 1
    })
    .await;
    wait_until(
        "the route to consume again",
        Duration::from_secs(30),
        || route.is_ready() && ready("worker-versions.cancelled") == Some(0),
    )
    .await;
    publish("worker-versions.cancelled", b"1").await;
    wait_until("the message handled", Duration::from_secs(30), || {
        route.queue("worker-versions.cancelled").snapshot().acked == 1
    })
    .await;
    app.shutdown();
    task.await.unwrap().unwrap();
    delete_queues(&["worker-versions.cancelled"]).await;
}
