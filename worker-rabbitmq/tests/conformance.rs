//! The generic broker conformance suite (`worker_core::conformance`) on
//! RabbitMQ: the same behaviours the embedded broker is held to.
//!
//! Needs a running server (`scripts/rabbitmq start`; URL from
//! `WORKER_TEST_AMQP_URL`, default `amqp://guest:guest@127.0.0.1:5672/%2f`),
//! and fails when it is unreachable. Queues are named
//! `worker-rabbitmq-conformance.<pid>.<behaviour>...` and deleted afterwards.

use lapin::options::QueueDeleteOptions;
use worker_core::backend::broker::conformance;
use worker_core::backend::broker::Broker;
use worker_rabbitmq::{RabbitBroker, RabbitOptions};

use worker_testkit::amqp_url as url;

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
    let out = worker_testkit::rabbitmqctl_output(&["-q", "list_queues", "name"]);
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
    let out = worker_testkit::rabbitmqctl_output(&["-q", "list_exchanges", "name"]);
    for exchange in String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|name| name.starts_with(prefix))
    {
        let _ = channel
            .exchange_delete(
                exchange.into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
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

worker_core::conformance_behaviours!(conformance_tests);

/// `run_all` itself, as users of the suite call it.
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
