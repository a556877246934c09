use std::time::Duration;

use worker::__private_0_1_0::{Action, DeliveryLimit, RouteKind};
use worker::{route, Message};

#[route(amqp, queues = ["items", "orders"], bulk_size = 2014, bulk_flush_interval = "1500ms",
        on_success = reject, on_exception = ack, on_decode_error = ack, max_concurrency = 4,
        max_retries = 5, retry_backoff = "2s", dead_letter = "items_dead",
        connection = "eu_west", vhost = "/prod", prefetch = 4000, declare = true,
        queue_type = quorum, delivery_limit = 7, single_active = true,
        consumer_priority = -2)]
async fn check(_msgs: Vec<Message>) {}

fn main() {
    let routes = worker::__private_0_1_0::registry::routes();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].name, "check");
    let RouteKind::Amqp { options: o, .. } = routes[0].kind else {
        panic!("expected an amqp route")
    };
    assert_eq!(o.queues, ["items", "orders"]);
    assert_eq!(o.bulk_size, 2014);
    assert_eq!(o.bulk_flush_interval, Some(Duration::from_millis(1500)));
    assert_eq!(o.on_success, Action::Reject);
    assert_eq!(o.on_exception, Action::Ack);
    assert_eq!(o.on_decode_error, Action::Ack);
    assert_eq!(o.max_concurrency, 4);
    assert_eq!(o.max_retries, Some(5));
    assert_eq!(o.retry_backoff, Some(Duration::from_secs(2)));
    assert_eq!(o.dead_letter, Some("items_dead"));
    assert_eq!(o.connection, Some("eu_west"));
    assert_eq!(o.delivery_limit, Some(DeliveryLimit::Limited(7)));
    assert_eq!(o.vhost, Some("/prod"));
    assert_eq!(o.prefetch, Some(4000));
    assert!(o.declare);
    assert!(o.quorum);
    assert!(o.single_active);
    assert_eq!(o.consumer_priority, Some(-2));
}
