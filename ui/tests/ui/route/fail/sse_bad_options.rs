use worker::route;

#[route(sse, url = "ws://localhost/events", events = ["a", "a"], connection = "Main")]
async fn on_events() {}

#[route(sse, bulk_size = 10)]
async fn no_url() {}

fn main() {}
