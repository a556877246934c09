use serde::Deserialize;
use worker::__private_0_1_0::RouteKind;
use worker::http::{Json, Path, Query, StatusCode};
use worker::{route, State};

struct Prefix(&'static str);

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
}

#[route(http, method = GET, path = "/items/{id}")]
async fn a_get_item(Path(id): Path<u64>, State(prefix): State<Prefix>) -> String {
    format!("{}{id}", prefix.0)
}

#[route(http, methods = [POST, PUT], paths = ["/items", "/v1/items"])]
async fn b_put_item(Json(body): Json<serde_json::Value>) -> (StatusCode, Json<serde_json::Value>) {
    (StatusCode::CREATED, Json(body))
}

#[route(http, methods = [GET, HEAD], path = "/")]
async fn c_index(Query(page): Query<Page>) -> String {
    page.limit.unwrap_or(10).to_string()
}

#[route(http, method = DELETE, path = "/files/{*rest}")]
async fn r#d_type() -> StatusCode {
    StatusCode::NO_CONTENT
}

fn main() {
    let routes = worker::__private_0_1_0::registry::routes();
    let records: Vec<_> = routes
        .iter()
        .map(|r| match r.kind {
            RouteKind::Service(service) => {
                assert_eq!(service.backend(), "http");
                let any: &dyn std::any::Any = service;
                let record = any
                    .downcast_ref::<worker::__private_0_1_0::http::HttpRoute>()
                    .expect("an http record");
                let _handler = (record.make)();
                (r.name, record.options.methods, record.options.paths)
            }
            _ => panic!("expected http routes"),
        })
        .collect();
    assert_eq!(
        records,
        [
            ("a_get_item", &["GET"][..], &["/items/{id}"][..]),
            (
                "b_put_item",
                &["POST", "PUT"][..],
                &["/items", "/v1/items"][..]
            ),
            ("c_index", &["GET", "HEAD"][..], &["/"][..]),
            ("d_type", &["DELETE"][..], &["/files/{*rest}"][..]),
        ]
    );
}
