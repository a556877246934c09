use worker::{route, Message};

#[route(amqp, queues = ["items"], bulk_flush_interval = "5 parsecs")]
async fn check(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["items"], bulk_flush_interval = 5)]
async fn check_number(_msgs: Vec<Message>) {}

fn main() {}
