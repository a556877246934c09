//! What reaches a client when an `http` handler fails with a
//! `worker::Error`, and what `check` and startup say of routes axum would
//! refuse (instead of a panic inside axum).

use std::sync::Arc;

use worker_core::Error;
use worker_http::test_server::TestServer;
use worker_http::{ErrorBody, HttpService, Json, Path, StatusCode};
use worker_macros::route;

#[derive(serde::Serialize)]
struct Order {
    id: u64,
}

/// `?` on any error; `Error::http` chooses the status and shows the
/// message; a plain error is a 500 that does not show it.
#[route(http, crate = "worker_http", method = GET, path = "/orders/{id}")]
async fn order(Path(id): Path<u64>) -> Result<Json<Order>, Error> {
    match id {
        0 => Err(Error::http(StatusCode::NOT_FOUND, format!("no order {id}"))),
        1 => {
            let secret: u64 = "password=hunter2".parse()?;
            Ok(Json(Order { id: secret }))
        }
        2 => Err(Error::msg("stock is closed").with_status(409)),
        _ => Ok(Json(Order { id })),
    }
}

async fn error_of(res: reqwest::Response) -> (u16, ErrorBody) {
    let status = res.status().as_u16();
    assert_eq!(res.headers()["content-type"], "application/json");
    (status, res.json().await.expect("a JSON error body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_error_is_a_json_answer_with_the_chosen_status() {
    let s = TestServer::builder()
        .route("order")
        .hooks(false)
        .start()
        .await;
    let c = reqwest::Client::new();
    let ok: serde_json::Value = worker_testkit::get_json(&c, &s.url("/orders/7")).await;
    assert_eq!(ok, serde_json::json!({ "id": 7 }));
    let (status, body) = error_of(c.get(s.url("/orders/0")).send().await.unwrap()).await;
    assert_eq!((status, body.error.as_str()), (404, "no order 0"));
    let (status, body) = error_of(c.get(s.url("/orders/2")).send().await.unwrap()).await;
    assert_eq!((status, body.error.as_str()), (409, "stock is closed"));
    // A plain `?`: a 500 whose body does not leak the error's text.
    let (status, body) = error_of(c.get(s.url("/orders/1")).send().await.unwrap()).await;
    assert_eq!(
        (status, body.error.as_str()),
        (500, "internal server error")
    );
    s.shutdown().await.unwrap();
}

#[route(http, crate = "worker_http", method = GET, path = "/things/{id}")]
async fn thing_by_id(Path(id): Path<u64>) -> String {
    id.to_string()
}

#[route(http, crate = "worker_http", method = GET, path = "/things/{name}")]
async fn thing_by_name(Path(name): Path<String>) -> String {
    name
}

/// Two templates that the macro accepts one by one but axum cannot serve
/// together: `validate` (which `check` and startup run) says so, naming
/// the route, and the runtime stops with that error instead of a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_axum_refuses_are_reported_by_validation() {
    let runtime = || {
        worker_testkit::runtime(
            &["thing_by_id", "thing_by_name"],
            [
                ("WORKER_AMQP_URL", "memory://http-conflict"),
                ("WORKER_HTTP_ADDR", "127.0.0.1:0"),
            ],
        )
        .service(Arc::new(HttpService::new()))
        .build()
    };
    let err = runtime().validate().unwrap_err().to_string();
    assert!(
        err.contains("http route `thing_by_name`") && err.contains("/things/{name}"),
        "{err}"
    );
    let err = runtime().run().await.unwrap_err().to_string();
    assert!(err.contains("http route `thing_by_name`"), "{err}");
}

#[route(http, crate = "worker_http", methods = [GET, POST], path = "/orders")]
async fn orders_a() -> &'static str {
    "a"
}

#[route(http, crate = "worker_http", method = POST, paths = ["/v1/orders", "/orders"])]
async fn orders_b() -> &'static str {
    "b"
}

/// One method and path served by two routes: validation names both, with
/// the method and path they share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_and_path_served_by_two_routes_is_refused() {
    let err = worker_testkit::runtime(
        &["orders_a", "orders_b"],
        [
            ("WORKER_AMQP_URL", "memory://http-twice"),
            ("WORKER_HTTP_ADDR", "127.0.0.1:0"),
        ],
    )
    .service(Arc::new(HttpService::new()))
    .build()
    .validate()
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`POST /orders` is served by two routes: http route `orders_a`")
            && err.contains("and http route `orders_b`"),
        "{err}"
    );
}
