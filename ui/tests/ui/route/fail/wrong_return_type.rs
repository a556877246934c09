use worker::{route, Message};

#[route(amqp, queues = ["items"])]
async fn check(msgs: Vec<Message>) -> usize {
    msgs.len()
}

fn main() {}
