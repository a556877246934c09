use worker::{route, Message};

#[route(amqp, queues = ["items"], bulk_size = 65536)]
async fn check(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["items"], bulk_size = 99999999999999999999999)]
async fn check_huge(_msgs: Vec<Message>) {}

fn main() {}
