use worker::{route, Message};

#[route(amqp, queues = ["amq.items"])]
async fn check(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["items"], dead_letter = "amq.dead")]
async fn check_dead_letter(_msgs: Vec<Message>) {}

fn main() {}
