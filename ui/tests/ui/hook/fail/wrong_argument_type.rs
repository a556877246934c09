use worker::on_startup;

#[on_startup]
async fn init(_port: u16) {}

fn main() {}
