use worker::{route, Message};

#[route(amqp, queues = ["items"], bulk_flush_intervall = "1s", on_exception = nack)]
async fn typo(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["items"], batch_size = 10, bulk_flush_interval = "1")]
async fn from_elsewhere(_msgs: Vec<Message>) {}

#[route(rabbitmq, queues = ["items"])]
async fn backend(_msgs: Vec<Message>) {}

fn main() {}
