use worker::route;

struct NotAnExtractor;
struct NotAResponse;

#[route(http, method = GET, path = "/a")]
async fn wrong_argument(_x: NotAnExtractor) -> &'static str {
    "a"
}

#[route(http, method = GET, path = "/b")]
async fn wrong_response() -> NotAResponse {
    NotAResponse
}

fn main() {}
