use worker::{route, Message};

#[route(kafka, queues = ["items"])]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
