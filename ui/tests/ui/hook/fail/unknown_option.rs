use worker::{on_shutdown, on_startup, App};

#[on_startup(priority = 1)]
async fn init(_app: App) {}

#[on_shutdown(order = 1, order = 2)]
async fn bye() {}

fn main() {}
