use worker::http::Path;
use worker::route;

#[route(http, method = GET, path = "/orders/:id")]
async fn by_colon(Path(id): Path<u64>) -> String {
    id.to_string()
}

#[route(http, method = GET, path = "/files/*rest")]
async fn by_star(Path(rest): Path<String>) -> String {
    rest
}

#[route(http, method = GET, path = "/orders/{id")]
async fn unclosed(Path(id): Path<u64>) -> String {
    id.to_string()
}

fn main() {}
