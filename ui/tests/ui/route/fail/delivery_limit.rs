use worker::{route, Message};

// A delivery limit is an argument of a quorum queue the route declares.
#[route(amqp, queues = ["a"], delivery_limit = 3)]
async fn classic_queue(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["b"], queue_type = quorum, delivery_limit = 3)]
async fn not_declared(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["c"], queue_type = quorum, declare = true, delivery_limit = 0)]
async fn zero(_msgs: Vec<Message>) {}

fn main() {}
