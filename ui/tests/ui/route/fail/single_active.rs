use worker::{route, Message};

// Single active consumer is an argument of a queue the route declares.
#[route(amqp, queues = ["a"], single_active = true)]
async fn not_declared(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["b"], declare = true, single_active = 1)]
async fn not_a_bool(_msgs: Vec<Message>) {}

fn main() {}
