use worker::{route, Message};

#[route(amqp, queues = ["items"], on_success = nack)]
async fn check(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["items"], on_exception = "reject")]
async fn check_quoted(_msgs: Vec<Message>) {}

fn main() {}
