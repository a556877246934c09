//! `#[route(http, ...)]` end to end: real handlers registered by the macro,
//! served by the real server of `worker::testing::http::TestServer`, called
//! over HTTP with reqwest.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::http::{Json, Path, StatusCode};
use worker::testing::http::TestServer;
use worker::{route, App, State};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    id: u64,
    name: String,
}

impl Item {
    fn new(id: u64, name: &str) -> Self {
        Item {
            id,
            name: name.to_owned(),
        }
    }
}

#[derive(Default)]
struct Store(Mutex<BTreeMap<u64, Item>>);

#[route(http, methods = [GET, HEAD], path = "/items/{id}")]
async fn get_item(
    Path(id): Path<u64>,
    State(store): State<Store>,
) -> Result<Json<Item>, (StatusCode, Json<Value>)> {
    store.0.lock().unwrap().get(&id).cloned().map(Json).ok_or((
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("no item {id}"), "status": 404 })),
    ))
}

#[route(http, method = POST, path = "/items")]
async fn create_item(
    State(store): State<Store>,
    Json(item): Json<Item>,
) -> (StatusCode, Json<Item>) {
    store.0.lock().unwrap().insert(item.id, item.clone());
    (StatusCode::CREATED, Json(item))
}

#[route(http, method = GET, path = "/greet/{name}")]
async fn greet(Path(name): Path<String>) -> Json<Value> {
    Json(json!({ "hello": name }))
}

/// The item routes on a real server, and a client.
async fn server() -> (TestServer, reqwest::Client) {
    let app = App::new();
    app.insert(Store::default());
    let server = TestServer::builder()
        .route("get_item")
        .route("create_item")
        .route("greet")
        .app(app)
        .start()
        .await;
    (server, reqwest::Client::new())
}

/// `POST /items` with `item`; asserts `201 Created`.
async fn post_item(c: &reqwest::Client, server: &TestServer, item: &Item) -> reqwest::Response {
    let res = c
        .post(server.url("/items"))
        .json(item)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res
}

async fn json_of(res: reqwest::Response) -> Value {
    assert_eq!(res.headers()["content-type"], "application/json", "{res:?}");
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_with_a_path_parameter_returns_json() {
    let (server, c) = server().await;
    let res = c.get(server.url("/greet/ada")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await, json!({ "hello": "ada" }));

    let res = c.get(server.url("/items/7")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(json_of(res).await["error"], "no item 7");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_with_a_json_body_then_get_it() {
    let (server, c) = server().await;
    let item = Item::new(1, "book");
    let res = post_item(&c, &server, &item).await;
    assert_eq!(res.json::<Item>().await.unwrap(), item);

    let res = c.get(server.url("/items/1")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Item>().await.unwrap(), item);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_a_4xx_with_a_json_error() {
    let (server, c) = server().await;
    let cases = [
        // Not JSON at all.
        c.post(server.url("/items"))
            .header("content-type", "application/json")
            .body("{not json"),
        // JSON of the wrong shape.
        c.post(server.url("/items"))
            .header("content-type", "application/json")
            .body(r#"{"id": "one"}"#),
        // No JSON content type.
        c.post(server.url("/items"))
            .body(r#"{"id": 1, "name": "x"}"#),
        // A path parameter that is not a `u64`.
        c.get(server.url("/items/abc")),
    ];
    for req in cases {
        let res = req.send().await.unwrap();
        let status = res.status();
        assert!(status.is_client_error(), "{status}");
        let body = json_of(res).await;
        assert_eq!(body["status"], status.as_u16(), "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    // Nothing was stored.
    let res = c.get(server.url("/items/1")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_on_a_get_route() {
    let (server, c) = server().await;
    let item = Item::new(3, "pen");
    post_item(&c, &server, &item).await;

    // Declared `methods = [GET, HEAD]`.
    let res = c.head(server.url("/items/3")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert!(res.bytes().await.unwrap().is_empty());
    let res = c.head(server.url("/items/4")).send().await.unwrap();
    assert_eq!(res.status(), 404);

    // Only `GET` declared: axum answers HEAD with the GET handler, no body.
    let res = c.head(server.url("/greet/ada")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.bytes().await.unwrap().is_empty());

    // A method that is not routed: 405 with a JSON error.
    let res = c.delete(server.url("/greet/ada")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(json_of(res).await["status"], 405);
    server.shutdown().await.unwrap();
}
