use worker::{on_shutdown, on_startup, App};

#[on_startup]
fn init(_app: App) {}

#[on_shutdown]
fn bye() {}

fn main() {}
