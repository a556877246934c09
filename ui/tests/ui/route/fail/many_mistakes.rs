use worker::{route, Message};

#[route(amqp, queues = ["items", "amq.x"], bulk_size = 0, on_success = nack,
        on_decode_error = requeue, bulk_flush_interval = "soon", colour = "red",
        bulk_size = 10, prefetch = 70000)]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
