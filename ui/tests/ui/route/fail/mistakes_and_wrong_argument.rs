use worker::route;

// Option mistakes and argument mistakes are reported in the same compile.
#[route(amqp, queues = ["items"], bulk_size = 0)]
async fn check(_msgs: Vec<String>, _retries: u32) {}

fn main() {}
