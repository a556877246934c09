use worker::route;

struct NotAnExtractor;

#[route(sse, url = "http://localhost:9000/events")]
async fn no_events() {}

#[route(sse, url = "http://localhost:9000/events")]
async fn wrong_events(events: Vec<u32>) {
    drop(events);
}

#[route(sse, url = "http://localhost:9000/events")]
async fn wrong_extractor(events: Vec<worker::sse::Event>, _x: NotAnExtractor) {
    drop(events);
}

fn main() {}
