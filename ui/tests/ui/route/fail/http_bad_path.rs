use worker::route;

#[route(http, method = GET, path = "items/{id}")]
async fn no_slash() {}

#[route(http, method = GET, path = "/items/")]
async fn trailing_slash() {}

#[route(http, method = GET, path = "/items//x{id}/{1st}")]
async fn bad_segments() {}

#[route(http, method = GET, paths = ["/a/{id}/{id}", "/b/{*rest}/c"])]
async fn bad_params() {}

fn main() {}
