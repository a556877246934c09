//! The startup warnings of `amqp` routes: a requeueing route on a quorum
//! queue with a delivery limit (what `check` prints and the runtime logs
//! before it starts), and those that depend on the broker's version, which
//! the consumer logs once connected: the default delivery limit of quorum
//! queues (the embedded broker models RabbitMQ 4.3: 20), and messages that
//! can outlive RabbitMQ's `consumer_timeout` (not on 4.3, where the
//! consumer sets its own).

use worker_core::Message;
use worker_macros::route;

#[route(amqp, crate = "worker_core", queues = ["warn.limited"], queue_type = quorum,
        declare = true, delivery_limit = 3)]
async fn requeues_into_a_limit(_msgs: Vec<Message<u32>>) {}

#[route(amqp, crate = "worker_core", queues = ["warn.retried"], queue_type = quorum,
        declare = true, delivery_limit = 3, max_retries = 5)]
async fn retries_instead(_msgs: Vec<Message<u32>>) {}

#[route(amqp, crate = "worker_core", queues = ["warn.rejects"], queue_type = quorum,
        declare = true, delivery_limit = 3, on_exception = reject)]
async fn rejects_instead(_msgs: Vec<Message<u32>>) {}

#[route(amqp, crate = "worker_core", queues = ["warn.slow"], declare = true, bulk_size = 100,
        timeout = "20m", bisect = true)]
async fn slow_bisected(_msgs: Vec<Message<u32>>) {}

fn warnings(route: &str) -> Vec<String> {
    worker_testkit::runtime(&[route], [("WORKER_AMQP_URL", "memory://warnings")])
        .build()
        .validate()
        .expect("valid routes")
}

#[test]
fn requeue_into_a_delivery_limit_is_a_warning() {
    let w = warnings("requeues_into_a_limit");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("route `requeues_into_a_limit`"), "{w:?}");
    assert!(w[0].contains("`delivery_limit = 3`"), "{w:?}");
    assert!(w[0].contains("after 4 deliveries"), "{w:?}");
    // Retries the runtime counts, or no requeue at all: nothing to say.
    assert!(warnings("retries_instead").is_empty());
    assert!(warnings("rejects_instead").is_empty());
}

#[route(amqp, crate = "worker_core", queues = ["warn.default_limit"], queue_type = quorum,
        declare = true)]
async fn default_limit(_msgs: Vec<Message<u32>>) {}

#[test]
fn version_dependent_warnings_wait_for_the_broker() {
    assert!(warnings("slow_bisected").is_empty());
    assert!(warnings("default_limit").is_empty());
}

#[tokio::test]
async fn the_embedded_broker_warns_of_its_default_delivery_limit_once() {
    let logs = worker_testkit::Logs::capture();
    let runtime = worker_testkit::runtime(
        &["default_limit", "slow_bisected"],
        [("WORKER_AMQP_URL", "memory://warnings-at-connect")],
    )
    .build();
    let (app, stats) = (runtime.app().clone(), runtime.stats().clone());
    let task = tokio::spawn(runtime.run());
    worker_testkit::wait_until(
        "the routes to consume",
        std::time::Duration::from_secs(10),
        || {
            stats.route("default_limit", "amqp").is_ready()
                && stats.route("slow_bisected", "amqp").is_ready()
        },
    )
    .await;
    app.shutdown();
    task.await.unwrap().unwrap();
    let embedded = logs.matching("INFO", "messages live only in this process");
    assert_eq!(embedded.len(), 1, "{:?}", logs.lines());
    let limit = logs.matching("WARN", "a delivery limit of 20");
    assert_eq!(limit.len(), 1, "{:?}", logs.lines());
    assert!(
        limit[0].contains("RabbitMQ 4.3.0 gives the quorum queue `warn.default_limit`")
            && limit[0].contains("route=\"default_limit\""),
        "{}",
        limit[0]
    );
    assert!(
        logs.matching("WARN", "consumer_timeout").is_empty(),
        "4.3 consumers set their own timeout: {:?}",
        logs.lines()
    );
}
