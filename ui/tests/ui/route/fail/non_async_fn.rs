use worker::{route, Message};

#[route(amqp, queues = ["items"])]
fn check(_msgs: Vec<Message>) {}

fn main() {}
