use worker::{route, Message};

#[route(amqp, queues = [])]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
