use worker::__private_0_1_0::Action;
use worker::{route, Message};

#[route(amqp, queues = ["items"])]
async fn check(_msgs: Vec<Message>) {}

fn main() {
    let routes = worker::__private_0_1_0::registry::routes();
    assert_eq!(routes.len(), 1);
    let o = routes[0].amqp().expect("an amqp route");
    assert_eq!(o.queues, ["items"]);
    assert_eq!(o.bulk_size, 1);
    assert_eq!(o.bulk_flush_interval, None);
    assert_eq!(o.on_success, Action::Ack);
    assert_eq!(o.on_exception, Action::Requeue);
    assert_eq!(o.on_decode_error, Action::Reject);
    assert_eq!(o.max_concurrency, 1);
    assert_eq!(o.max_retries, None);
    assert_eq!(o.retry_backoff, None);
    assert_eq!(o.dead_letter, None);
    assert_eq!(o.connection, None);
    assert_eq!(o.vhost, None);
    assert_eq!(o.prefetch, None);
    assert!(!o.declare);
    assert!(!o.quorum);
}
