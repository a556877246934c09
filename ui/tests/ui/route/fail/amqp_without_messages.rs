use worker::route;

#[route(amqp, queues = ["items"])]
async fn check() {}

fn main() {}
