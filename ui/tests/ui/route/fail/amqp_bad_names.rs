use worker::{route, Message};

#[route(amqp, queues = ["items"], connection = "eu-west", vhost = "", queue_type = fast,
        dead_letter = "items", max_concurrency = 0)]
async fn check(_msgs: Vec<Message>) {}

fn main() {}
