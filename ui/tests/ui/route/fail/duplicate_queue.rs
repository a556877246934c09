use worker::{route, Message};

#[route(amqp, queues = ["items", "orders", "items"])]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
