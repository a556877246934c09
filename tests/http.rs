//! The facade's HTTP surface: `worker::backends()` registers the server,
//! and `worker::http` / `worker::testing::http` work from a user's crate.

use worker::http::{Json, Path};
use worker::{route, State};
use worker_testkit::{get_json, get_text, wait_for_server};

struct Greeting(&'static str);

#[route(http, method = GET, path = "/hello/{name}")]
async fn hello(Path(name): Path<String>, State(g): State<Greeting>) -> Json<String> {
    Json(format!("{}, {name}", g.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backends_serve_routes_health_and_metrics() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = worker::App::new();
    app.insert(Greeting("hello"));
    let vars = [
        ("WORKER_HTTP_ADDR", format!("127.0.0.1:{port}")),
        ("WORKER_AMQP_URL", "memory://facade-http".to_owned()),
    ];
    let runtime = worker_testkit::runtime(&["hello"], vars)
        .backends(worker::backends())
        .app(app.clone())
        .build();
    let task = tokio::spawn(runtime.run());
    let c = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let live = wait_for_server(&c, &format!("{base}/health/live")).await;
    assert_eq!(live.status(), 200);
    let body: String = get_json(&c, &format!("{base}/hello/ada")).await;
    assert_eq!(body, "hello, ada");
    let metrics = get_text(&c, &format!("{base}/metrics")).await;
    assert!(
        metrics.contains(
            r#"worker_http_requests_total{method="GET",route="/hello/{name}",status="200"} 1"#
        ),
        "{metrics}"
    );
    app.shutdown();
    task.await.unwrap().unwrap();
    assert!(
        c.get(format!("{base}/health/live")).send().await.is_err(),
        "stopped listening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_server_is_reachable_through_the_facade() {
    let app = worker::App::new();
    app.insert(Greeting("hi"));
    let s = worker::testing::http::TestServer::builder()
        .app(app)
        .hooks(false)
        .route("hello")
        .start()
        .await;
    let res = reqwest::get(s.url("/hello/x%20y")).await.unwrap();
    assert_eq!(res.json::<String>().await.unwrap(), "hi, x y");
    let res = reqwest::get(s.url("/hello")).await.unwrap();
    assert_eq!(res.status(), 404);
    let err: worker::http::ErrorBody = res.json().await.unwrap();
    assert_eq!(err.status, 404);
    s.shutdown().await.unwrap();
}
