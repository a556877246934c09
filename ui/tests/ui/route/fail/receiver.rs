use worker::{route, Message};

struct Checker;

impl Checker {
    #[route(amqp, queues = ["items"])]
    async fn check(&self, _msgs: Vec<Message>) {}
}

fn main() {}
