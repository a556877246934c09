//! The startup warnings of `amqp` routes (what `check` prints and the
//! runtime logs before it starts): a requeueing route on a quorum queue
//! with a delivery limit, and a route whose messages can outlive RabbitMQ's
//! `consumer_timeout`.

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

#[route(amqp, crate = "worker_core", queues = ["warn.slow"], bulk_size = 100,
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

#[test]
fn messages_that_can_outlive_the_consumer_timeout_are_a_warning() {
    let w = warnings("slow_bisected");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("consumer_timeout"), "{w:?}");
}
