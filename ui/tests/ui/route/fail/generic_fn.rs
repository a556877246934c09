use worker::{route, Message};

#[route(amqp, queues = ["items"])]
async fn check<T: serde::de::DeserializeOwned>(_msgs: Vec<Message<T>>) {}

fn main() {}
