use worker::route;

#[route(http, method = FETCH, path = "/items")]
async fn fetch() {}

#[route(http, methods = [GET, get, GET], path = "/items")]
async fn list() {}

#[route(http, method = GET, methods = [POST], path = "/items")]
async fn both() {}

fn main() {}
