use worker::{route, Message};

#[route(amqp, queues = ["items"], timeout = "0s", bisect = 1)]
async fn zero_timeout(_msgs: Vec<Message>) {}

#[route(every, interval = "1s", timeout = "soon", bisect = true)]
async fn every_cannot_bisect() {}

fn main() {}
