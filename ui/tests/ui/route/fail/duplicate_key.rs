use worker::{route, Message};

#[route(amqp, queues = ["items"], bulk_size = 10, bulk_size = 20)]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
