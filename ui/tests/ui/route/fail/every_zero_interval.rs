use worker::{route, App};

#[route(every, interval = "0s")]
async fn report(_app: App) {}

fn main() {}
