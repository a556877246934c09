use worker::{route, Message};

#[route(amqp, queues = ["items"], batch_size = 10)]
async fn check(_msgs: Vec<Message>) {}

#[route(every, interval = "1s", queues = ["items"])]
async fn tick() {}

fn main() {}
