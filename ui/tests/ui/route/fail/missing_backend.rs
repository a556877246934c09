use worker::{route, Message};

#[route(queues = ["items"], bulk_size = 10)]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
