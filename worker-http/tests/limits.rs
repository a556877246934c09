//! The HTTP server's limits against real clients: a request timeout, a
//! body-read timeout, a concurrency limit, a connection cap, and the
//! operations endpoints on their own listener (`WORKER_OPS_ADDR`), which
//! answer while the public one is saturated.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use worker_http::test_server::TestServer;
use worker_http::{ErrorBody, Json};
use worker_macros::route;

/// What the server sent before it closed `tcp`, as text.
async fn read_until_closed(tcp: &mut TcpStream, what: &str) -> String {
    String::from_utf8_lossy(&worker_testkit::read_until_closed(tcp, what).await).into_owned()
}

/// Requests inside `/held` right now.
static HELD: AtomicUsize = AtomicUsize::new(0);
/// Released by the tests: `/held` waits for it.
static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[route(http, crate = "worker_http", method = GET, path = "/held")]
async fn held() -> &'static str {
    HELD.fetch_add(1, Ordering::SeqCst);
    RELEASE.notified().await;
    HELD.fetch_sub(1, Ordering::SeqCst);
    "released"
}

#[route(http, crate = "worker_http", method = GET, path = "/sleepy")]
async fn sleepy() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

#[route(http, crate = "worker_http", method = POST, path = "/echo")]
async fn echo(Json(v): Json<serde_json::Value>) -> Json<serde_json::Value> {
    Json(v)
}

async fn start(env: &[(&str, &str)]) -> TestServer {
    let mut b = TestServer::builder().hooks(false);
    for r in ["held", "sleepy", "echo"] {
        b = b.route(r);
    }
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.start().await
}

fn host_port(s: &TestServer) -> String {
    s.url("").trim_start_matches("http://").to_owned()
}

async fn refused_count(metrics_url: &str, reason: &str) -> u64 {
    let text = reqwest::get(metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("worker_http_refused_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_not_answered_in_time_is_a_json_503() {
    let s = start(&[("WORKER_HTTP_REQUEST_TIMEOUT", "0.3")]).await;
    let res = tokio::time::timeout(Duration::from_secs(10), reqwest::get(s.url("/sleepy")))
        .await
        .expect("answered before the handler finished")
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: ErrorBody = res.json().await.unwrap();
    assert!(
        body.error.contains("WORKER_HTTP_REQUEST_TIMEOUT"),
        "{}",
        body.error
    );
    // The server goes on serving.
    let res = reqwest::Client::new()
        .post(s.url("/echo"))
        .json(&serde_json::json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        refused_count(&s.url("/metrics"), "request_timeout").await,
        1
    );
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_not_received_in_time_is_a_408_and_the_connection_closes() {
    let s = start(&[("WORKER_HTTP_BODY_TIMEOUT", "0.3")]).await;
    let mut tcp = TcpStream::connect(host_port(&s)).await.unwrap();
    tcp.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
    )
    .await
    .unwrap();
    let sent = read_until_closed(&mut tcp, "client with a stalled body").await;
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(sent.contains("WORKER_HTTP_BODY_TIMEOUT"), "{sent}");
    // A body sent in time is read as before.
    let res = reqwest::Client::new()
        .post(s.url("/echo"))
        .json(&serde_json::json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(refused_count(&s.url("/metrics"), "body_timeout").await, 1);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_concurrency_limit_are_refused_but_health_answers() {
    let s = start(&[("WORKER_HTTP_MAX_CONCURRENCY", "2")]).await;
    let c = reqwest::Client::new();
    let first = tokio::spawn(c.get(s.url("/held")).send());
    let second = tokio::spawn(c.get(s.url("/held")).send());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while HELD.load(Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the two requests never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let third = c.get(s.url("/held")).send().await.unwrap();
    assert_eq!(third.status(), 503);
    assert_eq!(third.headers()["retry-after"], "1");
    let body: ErrorBody = third.json().await.unwrap();
    assert!(
        body.error.contains("WORKER_HTTP_MAX_CONCURRENCY"),
        "{}",
        body.error
    );
    let live = c.get(s.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200, "health is never refused");
    assert_eq!(
        refused_count(&s.url("/metrics"), "max_concurrency").await,
        1
    );

    RELEASE.notify_waiters();
    for held in [first, second] {
        let res = held.await.unwrap().unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "released");
    }
    // The permits came back with the responses.
    let after = c.post(s.url("/echo")).json(&1).send().await.unwrap();
    assert_eq!(after.status(), 200);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_refused_and_the_ops_listener_still_answers() {
    let ops_port = worker_testkit::free_local_addr().port();
    let ops_addr = format!("127.0.0.1:{ops_port}");
    let s = start(&[
        ("WORKER_HTTP_MAX_CONNECTIONS", "3"),
        ("WORKER_OPS_ADDR", &ops_addr),
    ])
    .await;
    let ops = |path: &str| format!("http://{ops_addr}{path}");
    // The operations endpoints moved: not on the public listener, and
    // the user routes are not on theirs.
    assert_eq!(reqwest::get(s.url("/metrics")).await.unwrap().status(), 404);
    assert_eq!(
        reqwest::get(s.url("/health/live")).await.unwrap().status(),
        404
    );
    assert_eq!(reqwest::get(ops("/echo")).await.unwrap().status(), 404);
    assert_eq!(
        reqwest::get(ops("/health/live")).await.unwrap().status(),
        200
    );

    // Three clients stalled in their request heads hold every connection.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut tcp = TcpStream::connect(host_port(&s)).await.unwrap();
        tcp.write_all(b"GET /held HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        stalled.push(tcp);
    }
    // Give the server the time to accept them (failure bound, not a
    // measurement: the next assertion retries until refused).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let mut tcp = TcpStream::connect(host_port(&s)).await.unwrap();
        let _ = tcp
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let sent = read_until_closed(&mut tcp, "a connection over the cap").await;
        if sent.starts_with("HTTP/1.1 503") || tokio::time::Instant::now() > deadline {
            break sent;
        }
    };
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("too many open connections"), "{refused}");
    // The operations listener has its own connections.
    assert_eq!(
        reqwest::get(ops("/health/live")).await.unwrap().status(),
        200
    );
    assert!(refused_count(&ops("/metrics"), "max_connections").await >= 1);

    // Once a stalled client goes, a new connection is served again.
    drop(stalled.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match reqwest::Client::new()
            .post(s.url("/echo"))
            .json(&2)
            .send()
            .await
        {
            Ok(res) if res.status() == 200 => break,
            _ if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("not served after a connection was freed: {other:?}"),
        }
    }
    drop(stalled);
    s.shutdown().await.unwrap();
}

// ---- the application's own tower layers (`main!(http_layers = ...)`) ----

/// What an application passes as `http_layers`: a bearer-token check and a
/// response header, with axum's middleware (any tower layer works alike).
fn layers(router: worker_http::Router) -> worker_http::Router {
    use worker_http::axum::middleware::{from_fn, Next};
    use worker_http::{IntoResponse, Request, StatusCode};
    router.layer(from_fn(|req: Request, next: Next| async move {
        let authorized = req
            .headers()
            .get("authorization")
            .is_some_and(|v| v == "Bearer let-me-in");
        if !authorized {
            return (StatusCode::UNAUTHORIZED, "who are you?").into_response();
        }
        let mut res = next.run(req).await;
        res.headers_mut()
            .insert("x-layered", worker_http::HeaderValue::from_static("yes"));
        res
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_applications_layers_wrap_its_routes_and_not_health() {
    let s = TestServer::builder()
        .hooks(false)
        .route("echo")
        .http_layers(layers)
        .start()
        .await;
    let c = reqwest::Client::new();
    let denied = c.post(s.url("/echo")).json(&1).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let allowed = c
        .post(s.url("/echo"))
        .bearer_auth("let-me-in")
        .json(&1)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["x-layered"], "yes");
    // Health and metrics stay outside the application's layers.
    let live = c.get(s.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    assert!(live.headers().get("x-layered").is_none());
    assert_eq!(c.get(s.url("/metrics")).send().await.unwrap().status(), 200);
    s.shutdown().await.unwrap();
}
