//! The facade's HTTP surface: `with_backends` registers the server, and
//! `worker::http` / `worker::testing::http` work from a user's crate.

use std::time::Duration;

use worker::http::{Json, Path};
use worker::registry::{HttpOptions, Location, Route, RouteKind};
use worker::runtime::Runtime;
use worker::State;

struct Greeting(&'static str);

async fn hello(Path(name): Path<String>, State(g): State<Greeting>) -> Json<String> {
    Json(format!("{}, {name}", g.0))
}

fn make_hello() -> Box<dyn std::any::Any + Send> {
    worker::http::__private::erase_handler(hello)
}

static HELLO: Route = Route {
    name: "hello",
    module: module_path!(),
    location: Location {
        file: file!(),
        line: line!(),
        column: 0,
    },
    kind: RouteKind::Http {
        options: HttpOptions {
            methods: &["GET"],
            paths: &["/hello/{name}"],
        },
        make: make_hello,
    },
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_backends_serves_routes_health_and_metrics() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = worker::config::Config::from_vars(
        [
            ("WORKER_HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")),
            (
                "WORKER_AMQP_URL".to_owned(),
                "memory://facade-http".to_owned(),
            ),
        ],
        &Default::default(),
    )
    .unwrap();
    let app = worker::App::new();
    app.insert(Greeting("hello"));
    let runtime = worker::with_backends(Runtime::builder(config))
        .routes(vec![&HELLO])
        .hooks(vec![])
        .app(app.clone())
        .handle_signals(false)
        .build();
    let task = tokio::spawn(runtime.run());
    let c = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let live = loop {
        match c.get(format!("{base}/health/live")).send().await {
            Ok(r) => break r,
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "server not up: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    assert_eq!(live.status(), 200);
    let body: String = c
        .get(format!("{base}/hello/ada"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, "hello, ada");
    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
        .route_record(&HELLO)
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
