use worker::{route, State};

struct Db;

#[route(amqp, queues = ["items"])]
async fn check(_msgs: Vec<String>, _db: State<Db>, _retries: u32) {}

fn main() {}
