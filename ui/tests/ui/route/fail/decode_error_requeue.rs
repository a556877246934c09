use worker::{route, Message};

#[route(amqp, queues = ["items"], on_decode_error = requeue)]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
