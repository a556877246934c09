use worker::{route, Message};

#[route(amqp, queues = ["items"], retry_backoff = "2s")]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
