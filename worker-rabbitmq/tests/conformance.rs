//! The generic broker conformance suite (`worker_core::conformance`) on
//! RabbitMQ: the same behaviours the embedded broker is held to.
//!
//! Needs a running server (`scripts/rabbitmq start`; URL from
//! `WORKER_TEST_AMQP_URL`, default `amqp://guest:guest@127.0.0.1:5672/%2f`),
//! and fails when it is unreachable. Queues are named
//! `worker-rabbitmq-conformance.<pid>.<behaviour>...` and deleted afterwards.

use std::process::Command;

use lapin::options::QueueDeleteOptions;
use worker_core::broker::Broker;
use worker_core::conformance;
use worker_rabbitmq::{RabbitBroker, RabbitOptions};

fn url() -> String {
    std::env::var("WORKER_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

fn prefix(behaviour: &str) -> String {
    format!(
        "worker-rabbitmq-conformance.{}.{behaviour}",
        std::process::id()
    )
}

async fn broker(behaviour: &str) -> RabbitBroker {
    let broker =
        RabbitBroker::new(&url(), RabbitOptions::named(prefix(behaviour))).expect("valid test URL");
    if let Err(e) = broker.channel().await {
        panic!(
            "cannot reach RabbitMQ at `{}` (set WORKER_TEST_AMQP_URL or run `scripts/rabbitmq start`): {e}",
            broker.describe()
        );
    }
    broker
}

/// Deletes the queues whose names start with `prefix`.
async fn delete_queues(prefix: &str) {
    let node = std::env::var("RABBITMQ_NODENAME").unwrap_or_else(|_| "rabbit@localhost".into());
    let Ok(out) = Command::new("rabbitmqctl")
        .env("RABBITMQ_NODENAME", node)
        .args(["-q", "list_queues", "name"])
        .output()
    else {
        return;
    };
    let connection = lapin::Connection::connect(&url(), lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    for queue in String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|name| name.starts_with(prefix))
    {
        let _ = channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = connection.close(200, "bye".into()).await;
}

macro_rules! conformance_tests {
    ($($behaviour:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $behaviour() {
            let name = stringify!($behaviour);
            let broker = broker(name).await;
            let outcome = conformance::$behaviour(&broker, &prefix(name)).await;
            broker.close().await;
            delete_queues(&prefix(name)).await;
            if let Err(e) = outcome {
                panic!("{name} on RabbitMQ: {e}");
            }
        }
    )*};
}

conformance_tests!(
    publish_consume_ack,
    prefetch_window,
    multiple_ack,
    nack_requeue_to_head,
    nack_dead_letter,
    ttl_delay_queue,
    close_redelivers_unacked,
    check_missing_queue,
    shared_tag_space,
    cancel_ends_stream,
    properties_round_trip,
    empty_body,
    unroutable_publish,
);

/// `run_all` itself, so that a behaviour added to the suite but not listed
/// above still runs on RabbitMQ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_on_rabbitmq() {
    let broker = broker("all").await;
    let outcome = conformance::run_all(&broker, &prefix("all")).await;
    broker.close().await;
    delete_queues(&prefix("all")).await;
    if let Err(e) = outcome {
        panic!("conformance suite on RabbitMQ:\n{e}");
    }
}
