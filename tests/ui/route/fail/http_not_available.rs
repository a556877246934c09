use worker::route;

#[route(http, method = GET, path = "/items/{id}")]
async fn get_item() {}

#[route(sse, url = "http://localhost:9000/events", bulk_size = 10)]
async fn on_events() {}

fn main() {}
