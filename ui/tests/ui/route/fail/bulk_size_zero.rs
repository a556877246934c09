use worker::{route, Message};

#[route(amqp, queues = ["items"], bulk_size = 0)]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
