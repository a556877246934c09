use worker::{route, App};

#[route(every, max_concurrency = 2)]
async fn report(_app: App) {}

fn main() {}
