use worker::{route, Message};

// A classic queue's argument, set when the route declares its queues.
#[route(amqp, queues = ["a"], max_priority = 10)]
async fn not_declared(_msgs: Vec<Message>) {}

// RabbitMQ refuses `x-max-priority` on quorum queues.
#[route(amqp, queues = ["b"], declare = true, queue_type = quorum, max_priority = 10)]
async fn on_quorum(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["c"], declare = true, max_priority = 0)]
async fn zero(_msgs: Vec<Message>) {}

#[route(amqp, queues = ["d"], declare = true, max_priority = 256)]
async fn too_many(_msgs: Vec<Message>) {}

fn main() {}
