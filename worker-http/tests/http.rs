//! The HTTP server against a real client: routes, extractors, JSON errors,
//! panics, HEAD, 404/405, metrics and readiness.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use worker_testkit::{get_json, get_text, read_until_closed};

use serde::{Deserialize, Serialize};
use worker_core::{App, Message, State};
use worker_http::test_server::TestServer;
use worker_http::{error_response, ErrorBody, Form, Json, Path, Query, StatusCode};
use worker_macros::route;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    id: u64,
    name: String,
}

#[derive(Default)]
struct Db(Mutex<HashMap<u64, Item>>);

struct NeverInserted;

#[route(http, crate = "worker_http", method = GET, path = "/items/{id}")]
async fn get_item(
    Path(id): Path<u64>,
    State(db): State<Db>,
) -> Result<Json<Item>, worker_http::Response> {
    db.0.lock()
        .unwrap()
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| error_response(StatusCode::NOT_FOUND, format!("no item {id}")))
}

#[route(http, crate = "worker_http", methods = [POST, PUT], path = "/items")]
async fn put_item(State(db): State<Db>, Json(item): Json<Item>) -> (StatusCode, Json<Item>) {
    db.0.lock().unwrap().insert(item.id, item.clone());
    (StatusCode::CREATED, Json(item))
}

#[derive(Deserialize)]
struct Search {
    q: String,
    limit: Option<usize>,
}

#[route(http, crate = "worker_http", method = GET, path = "/search")]
async fn search(State(db): State<Db>, Query(s): Query<Search>) -> Json<Vec<Item>> {
    let db = db.0.lock().unwrap();
    let mut found: Vec<Item> = db
        .values()
        .filter(|i| i.name.contains(&s.q))
        .cloned()
        .collect();
    found.sort_by_key(|i| i.id);
    found.truncate(s.limit.unwrap_or(usize::MAX));
    Json(found)
}

#[derive(Deserialize)]
struct Rename {
    name: String,
}

#[route(http, crate = "worker_http", method = PATCH, path = "/items/{id}")]
async fn rename(Path(id): Path<u64>, State(db): State<Db>, Form(f): Form<Rename>) -> StatusCode {
    match db.0.lock().unwrap().get_mut(&id) {
        Some(item) => {
            item.name = f.name;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

#[route(http, crate = "worker_http", method = GET, path = "/boom")]
async fn boom() -> &'static str {
    panic!("handler exploded")
}

#[route(http, crate = "worker_http", method = GET, path = "/missing")]
async fn needs_missing(State(_): State<NeverInserted>) -> &'static str {
    "unreachable"
}

#[route(http, crate = "worker_http", method = GET, path = "/app")]
async fn app_arg(app: App) -> String {
    format!("shutting_down={}", app.is_shutting_down())
}

/// Set while `slow` runs.
static SLOW_ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[route(http, crate = "worker_http", method = GET, path = "/slow")]
async fn slow(app: App) -> String {
    SLOW_ENTERED.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    format!("done, shutting_down={}", app.is_shutting_down())
}

async fn start() -> TestServer {
    start_with(&[]).await
}

async fn start_with(env: &[(&str, &str)]) -> TestServer {
    let app = App::new();
    app.insert(Db::default());
    let mut b = TestServer::builder().app(app).hooks(false);
    for r in [
        "get_item",
        "put_item",
        "search",
        "rename",
        "boom",
        "needs_missing",
        "app_arg",
        "slow",
    ] {
        b = b.route(r);
    }
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.start().await
}

/// Opens a connection and sends half a request head.
async fn stalled_client(s: &TestServer) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = s.url("").trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /items/1 HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tcp
}

async fn error_of(res: reqwest::Response) -> (u16, ErrorBody) {
    let status = res.status().as_u16();
    assert_eq!(
        res.headers()["content-type"],
        "application/json",
        "status {status}"
    );
    let body: ErrorBody = res.json().await.expect("a JSON error body");
    assert_eq!(body.status, status);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_extract_path_json_query_form_and_state() {
    let s = start().await;
    let c = reqwest::Client::new();
    for (id, name) in [(1, "apple"), (2, "banana"), (3, "apricot")] {
        let res = c
            .post(s.url("/items"))
            .json(&Item {
                id,
                name: name.into(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.json::<Item>().await.unwrap().id, id);
    }
    let res = c
        .put(s.url("/items"))
        .json(&Item {
            id: 4,
            name: "kiwi".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "methods = [POST, PUT]");

    let item: Item = get_json(&c, &s.url("/items/2")).await;
    assert_eq!(
        item,
        Item {
            id: 2,
            name: "banana".into()
        }
    );

    let found: Vec<Item> = get_json(&c, &s.url("/search?q=ap&limit=5")).await;
    assert_eq!(found.iter().map(|i| i.id).collect::<Vec<_>>(), [1, 3]);
    let found: Vec<Item> = get_json(&c, &s.url("/search?q=ap&limit=1")).await;
    assert_eq!(found.len(), 1);

    let res = c
        .patch(s.url("/items/3"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=avocado")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let item: Item = get_json(&c, &s.url("/items/3")).await;
    assert_eq!(item.name, "avocado");

    let (status, body) = error_of(c.get(s.url("/items/99")).send().await.unwrap()).await;
    assert_eq!((status, body.error.as_str()), (404, "no item 99"));

    let text = get_text(&c, &s.url("/app")).await;
    assert_eq!(text, "shutting_down=false");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_a_json_4xx() {
    let s = start().await;
    let c = reqwest::Client::new();
    let json = |b: reqwest::RequestBuilder, body: &str| {
        b.header("content-type", "application/json")
            .body(body.to_owned())
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("bad path parameter", c.get(s.url("/items/abc")), 400),
        (
            "path parameter out of range",
            c.get(s.url("/items/-1")),
            400,
        ),
        (
            "invalid json",
            json(c.post(s.url("/items")), "{not json"),
            400,
        ),
        (
            "json of the wrong shape",
            json(c.post(s.url("/items")), r#"{"id":"x"}"#),
            422,
        ),
        (
            "missing json content type",
            c.post(s.url("/items")).body(r#"{"id":1,"name":"a"}"#),
            415,
        ),
        ("missing query parameter", c.get(s.url("/search")), 400),
        (
            "bad query value",
            c.get(s.url("/search?q=a&limit=many")),
            400,
        ),
        (
            "form with the wrong content type",
            c.patch(s.url("/items/1"))
                .header("content-type", "text/plain")
                .body("name=x"),
            415,
        ),
        (
            "form missing a field",
            c.patch(s.url("/items/1"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("nom=x"),
            422,
        ),
    ];
    for (what, req, expected) in cases {
        let (status, body) = error_of(req.send().await.unwrap()).await;
        assert_eq!(status, expected, "{what}: {body:?}");
        assert!(!body.error.is_empty(), "{what}");
    }
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_missing_state_unknown_paths_and_methods() {
    let s = start().await;
    let c = reqwest::Client::new();

    let (status, body) = error_of(c.get(s.url("/boom")).send().await.unwrap()).await;
    assert_eq!(
        (status, body.error.as_str()),
        (500, "internal server error")
    );
    // The server keeps serving, on the same connection too.
    let res = c.get(s.url("/search?q=")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (status, _) = error_of(c.get(s.url("/boom")).send().await.unwrap()).await;
    assert_eq!(status, 500);

    let (status, body) = error_of(c.get(s.url("/missing")).send().await.unwrap()).await;
    assert_eq!(status, 500);
    assert!(body.error.contains("NeverInserted"), "{body:?}");

    let (status, body) = error_of(c.get(s.url("/nowhere")).send().await.unwrap()).await;
    assert_eq!((status, body.error.as_str()), (404, "not found"));

    let res = c.delete(s.url("/items/1")).send().await.unwrap();
    let allow = res
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = error_of(res).await;
    assert_eq!((status, body.error.as_str()), (405, "method not allowed"));
    let allow = allow.expect("405 carries Allow");
    assert!(allow.contains("GET") && allow.contains("PATCH"), "{allow}");

    // HEAD on a GET route: the GET's status and headers, no body.
    c.post(s.url("/items"))
        .json(&Item {
            id: 7,
            name: "fig".into(),
        })
        .send()
        .await
        .unwrap();
    let res = c.head(s.url("/items/7")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert!(res.bytes().await.unwrap().is_empty());
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_answer() {
    let s = start().await;
    let c = reqwest::Client::new();
    let res = c.get(s.url("/health/live")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = c.get(s.url("/health/ready")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    s.shutdown().await.unwrap();
}

// ---- readiness with a consumer on the embedded broker ----

#[route(amqp, crate = "worker_http", queues = ["ready_orders"])]
async fn orders_consumer(msgs: Vec<Message<serde_json::Value>>, app: App) {
    let n = app.get::<std::sync::atomic::AtomicUsize>().unwrap();
    n.fetch_add(msgs.len(), std::sync::atomic::Ordering::SeqCst);
}

async fn ready_status(c: &reqwest::Client, s: &TestServer) -> (u16, serde_json::Value) {
    let res = c.get(s.url("/health/ready")).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn wait_ready_status(c: &reqwest::Client, s: &TestServer, want: u16) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = ready_status(c, s).await;
        if status == want {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness stayed {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_consumer_and_its_connection() {
    let app = App::new();
    app.insert(std::sync::atomic::AtomicUsize::new(0));
    let s = TestServer::builder()
        .app(app)
        .hooks(false)
        .route("orders_consumer")
        .start()
        .await;
    let c = reqwest::Client::new();
    wait_ready_status(&c, &s, 200).await;

    // The queue disappears: the route is not ready until it is back.
    assert!(s.broker().delete_queue("ready_orders"));
    let body = wait_ready_status(&c, &s, 503).await;
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["routes"], serde_json::json!(["orders_consumer"]));
    s.broker()
        .declare_queue(
            "ready_orders",
            worker_core::QueueOptions::default().with_durable(true),
        )
        .unwrap();
    wait_ready_status(&c, &s, 200).await;

    // The connection drops and cannot be re-established for a while.
    s.broker().set_fail_connect(3);
    s.drop_connection();
    let body = wait_ready_status(&c, &s, 503).await;
    // Whichever is observed first: the consumer or its connection is down.
    assert!(
        body["routes"] == serde_json::json!(["orders_consumer"])
            || body["connections"] == serde_json::json!(["default"]),
        "{body}"
    );
    wait_ready_status(&c, &s, 200).await;

    // It consumes again.
    s.publish("ready_orders", &serde_json::json!({"n": 1}))
        .await;
    s.wait_idle().await;
    assert_eq!(s.report("ready_orders").acked, 1);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_without_waiting_for_stalled_clients() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = start_with(&[("WORKER_SHUTDOWN_TIMEOUT", "30")]).await;
    let mut stalled = stalled_client(&s).await;
    // A keep-alive connection, idle after one exchange.
    let addr = s.url("").trim_start_matches("http://").to_owned();
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /app HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let n = idle.read(&mut first).await.unwrap();
    let first = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(first.ends_with("shutting_down=false"), "{first}");

    let in_flight = tokio::spawn(reqwest::get(s.url("/slow")));
    while !SLOW_ENTERED.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Failure bound only: waiting for the stalled client would take the
    // whole 30 s shutdown timeout.
    let shutdown = tokio::time::timeout(Duration::from_secs(10), s.shutdown());

    let (shut, res) = tokio::join!(shutdown, in_flight);
    shut.expect("shutdown waited for a client that never sent its request")
        .unwrap();
    let res = res.unwrap().expect("the request in flight at shutdown");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "done, shutting_down=true");

    let sent = read_until_closed(&mut stalled, "stalled client").await;
    assert!(sent.is_empty(), "{:?}", String::from_utf8_lossy(&sent));
    let sent = read_until_closed(&mut idle, "idle keep-alive connection").await;
    assert!(sent.is_empty(), "{:?}", String::from_utf8_lossy(&sent));
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "still accepting connections after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_request_heads_are_closed_after_the_header_timeout() {
    let s = start_with(&[("WORKER_HTTP_HEADER_TIMEOUT", "0.3")]).await;
    let mut stalled = stalled_client(&s).await;
    let sent = read_until_closed(&mut stalled, "stalled client").await;
    println!(
        "after the header timeout the server sent {:?}",
        String::from_utf8_lossy(&sent)
    );
    // Other clients are served as before.
    let res = reqwest::get(s.url("/app")).await.unwrap();
    assert_eq!(res.status(), 200);
    s.shutdown().await.unwrap();
}

// ---- startup: health answers while the startup hooks run ----

/// Released by the test: the startup hook waits for it.
struct Gate(tokio::sync::Notify);

#[worker_macros::on_startup(crate = "worker_http")]
async fn slow_startup(app: App) -> Result<(), worker_core::Error> {
    app.get::<Gate>().unwrap().0.notified().await;
    app.insert(Db::default());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_startup_hooks_run_health_answers_starting_and_routes_503() {
    let app = App::new();
    app.insert(Gate(tokio::sync::Notify::new()));
    let http = std::sync::Arc::new(worker_http::HttpService::new());
    let hook = worker_core::backend::registry::hooks()
        .into_iter()
        .find(|h| h.name == "slow_startup")
        .unwrap();
    let runtime = worker_testkit::runtime(
        &["get_item"],
        [
            ("WORKER_AMQP_URL", "memory://http-startup"),
            ("WORKER_HTTP_ADDR", "127.0.0.1:0"),
        ],
    )
    .hooks(vec![hook])
    .service(http.clone())
    .app(app.clone())
    .build();
    let task = tokio::spawn(runtime.run());
    worker_testkit::wait_until("the server to listen", Duration::from_secs(10), || {
        http.local_addr().is_some()
    })
    .await;
    let base = format!("http://{}", http.local_addr().unwrap());
    let c = reqwest::Client::new();
    let live = c.get(format!("{base}/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = c.get(format!("{base}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "starting");
    let res = c.get(format!("{base}/items/1")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let (status, err) = error_of(res).await;
    assert_eq!(status, 503);
    assert!(err.error.contains("starting"), "{}", err.error);

    app.get::<Gate>().unwrap().0.notify_one();
    tokio::time::timeout(Duration::from_secs(10), app.started())
        .await
        .unwrap();
    let ready = c.get(format!("{base}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let res = c.get(format!("{base}/items/1")).send().await.unwrap();
    assert_eq!(res.status(), 404, "the route runs: item 1 is not in the db");
    app.shutdown();
    task.await.unwrap().unwrap();
}
