//! `/metrics` scraped over HTTP and parsed: one assertion per metric family.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use worker_core::registry::{
    AmqpOptions, BoxFuture, EveryOptions, HttpOptions, Location, Route, RouteKind,
};
use worker_core::{App, Error, Message};
use worker_http::__private::erase_handler;
use worker_http::metrics::prometheus_client::metrics::counter::Counter;
use worker_http::testing::TestServer;
use worker_http::{Json, Path};

const HERE: Location = Location {
    file: file!(),
    line: 0,
    column: 0,
};

async fn get_item(Path(id): Path<u64>) -> Json<u64> {
    Json(id)
}

fn make_get_item() -> Box<dyn Any + Send> {
    erase_handler(get_item)
}

static GET_ITEM: Route = Route {
    name: "get_item",
    module: module_path!(),
    location: HERE,
    kind: RouteKind::Http {
        options: HttpOptions {
            methods: &["GET"],
            paths: &["/items/{id}"],
        },
        make: make_get_item,
    },
};

/// Acks even ids, rejects odd ones, fails the whole batch on id 13.
fn check(batch: worker_core::Batch, _app: App) -> BoxFuture<'static, Result<(), Error>> {
    Box::pin(async move {
        let msgs: Vec<Message<u64>> = batch.decode();
        if msgs.iter().any(|m| *m.body() == 13) {
            return Err(Error::msg("unlucky"));
        }
        for m in &msgs {
            if m.body() % 2 == 1 {
                m.reject();
            }
        }
        Ok(())
    })
}

static CHECK: Route = Route {
    name: "check",
    module: module_path!(),
    location: HERE,
    kind: RouteKind::Amqp {
        options: AmqpOptions {
            bulk_size: 2,
            bulk_flush_interval: Some(Duration::from_millis(20)),
            on_exception: worker_core::Action::Reject,
            ..AmqpOptions::new(&["metrics_items"])
        },
        handler: check,
    },
};

static TICKS: AtomicUsize = AtomicUsize::new(0);

fn tick(_app: App) -> BoxFuture<'static, Result<(), Error>> {
    Box::pin(async {
        TICKS.fetch_add(1, Ordering::SeqCst);
        Ok(())
    })
}

static TICK: Route = Route {
    name: "tick",
    module: module_path!(),
    location: HERE,
    kind: RouteKind::Every {
        options: EveryOptions {
            interval: Duration::from_millis(10),
            max_concurrency: 1,
            run_on_start: true,
        },
        handler: tick,
    },
};

/// `name{labels}` -> value, from the text exposition.
fn parse(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse::<f64>().expect(l))
        })
        .collect()
}

fn families(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_is_exposed_and_counts_what_happened() {
    let jobs: Counter = Counter::default();
    worker_http::metrics::registry().register(
        "test_jobs_done",
        "Jobs done by the test",
        jobs.clone(),
    );
    jobs.inc_by(3);

    let s = TestServer::builder()
        .hooks(false)
        .route_record(&GET_ITEM)
        .route_record(&CHECK)
        .route_record(&TICK)
        .env("WORKER_AMQP_PREFETCH", "64")
        .start()
        .await;
    let c = reqwest::Client::new();
    for i in 0..5 {
        assert_eq!(
            c.get(s.url(&format!("/items/{i}")))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(c.get(s.url("/items/x")).send().await.unwrap().status(), 400);
    assert_eq!(
        c.post(s.url("/items/1")).send().await.unwrap().status(),
        405
    );
    assert_eq!(c.get(s.url("/nope/1")).send().await.unwrap().status(), 404);
    assert_eq!(
        c.head(s.url("/items/1")).send().await.unwrap().status(),
        200
    );

    // 2, 4 acked; 1, 3 rejected (one batch each); 13 fails with 14: both rejected.
    for n in [2u64, 4, 1, 3, 13, 14] {
        s.publish("metrics_items", &n).await;
        if n == 4 || n == 3 || n == 14 {
            s.wait_idle().await;
        }
    }
    s.publish_raw("metrics_items", "not a number").await;
    s.wait_idle().await;
    while TICKS.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let res = c.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    let m = parse(&text);
    let get = |k: &str| {
        *m.get(k)
            .unwrap_or_else(|| panic!("no series `{k}` in\n{text}"))
    };

    assert_eq!(
        get(r#"worker_http_requests_total{method="GET",route="/items/{id}",status="200"}"#),
        5.0
    );
    assert_eq!(
        get(r#"worker_http_requests_total{method="GET",route="/items/{id}",status="400"}"#),
        1.0
    );
    assert_eq!(
        get(r#"worker_http_requests_total{method="POST",route="/items/{id}",status="405"}"#),
        1.0
    );
    assert_eq!(
        get(r#"worker_http_requests_total{method="HEAD",route="/items/{id}",status="200"}"#),
        1.0
    );
    assert_eq!(
        get(r#"worker_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert_eq!(
        get(r#"worker_http_request_duration_seconds_count{method="GET",route="/items/{id}"}"#),
        6.0
    );
    assert_eq!(
        get(
            r#"worker_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/items/{id}"}"#
        ),
        6.0
    );

    let msg = |action: &str| {
        get(&format!(
            r#"worker_messages_total{{route="check",queue="metrics_items",action="{action}"}}"#
        ))
    };
    assert_eq!(
        (
            msg("acked"),
            msg("rejected"),
            msg("requeued"),
            msg("retried"),
            msg("dead_lettered")
        ),
        (2.0, 5.0, 0.0, 0.0, 0.0)
    );
    assert_eq!(
        get(r#"worker_decode_failures_total{route="check",queue="metrics_items"}"#),
        1.0
    );
    let size = get(r#"worker_batches_total{route="check",reason="size"}"#);
    let deadline = get(r#"worker_batches_total{route="check",reason="deadline"}"#);
    assert_eq!(size, 3.0, "three full batches of 2");
    assert_eq!(deadline, 1.0, "the undecodable message alone");
    assert_eq!(
        get(r#"worker_batches_total{route="check",reason="shutdown"}"#),
        0.0
    );
    assert_eq!(
        get(r#"worker_handler_errors_total{route="check",kind="error"}"#),
        1.0
    );
    assert_eq!(
        get(r#"worker_handler_errors_total{route="check",kind="panic"}"#),
        0.0
    );
    // Four batches ran (this hand-written adapter runs even when nothing decoded).
    assert_eq!(
        get(r#"worker_handler_duration_seconds_count{route="check"}"#),
        4.0
    );
    assert_eq!(get(r#"worker_route_ready{route="check"}"#), 1.0);
    assert_eq!(get(r#"worker_route_ready{route="tick"}"#), 1.0);
    assert_eq!(
        get(r#"worker_consumer_reconnects_total{route="check"}"#),
        0.0
    );
    assert_eq!(
        get(r#"worker_consumer_in_flight_batches{route="check"}"#),
        0.0
    );
    assert_eq!(
        get(r#"worker_consumer_buffered_messages{route="check"}"#),
        0.0
    );
    assert_eq!(get(r#"worker_consumer_prefetch{route="check"}"#), 64.0);
    assert_eq!(get(r#"worker_connection_up{connection="default"}"#), 1.0);
    assert!(get(r#"worker_task_runs_total{route="tick"}"#) >= 2.0);
    assert_eq!(get(r#"worker_task_skipped_total{route="tick"}"#), 0.0);
    assert!(get("process_resident_memory_bytes") > 0.0);
    // CPU time is sampled in 10 ms ticks: a short test may still read 0.
    assert!(get("process_cpu_seconds_total") >= 0.0);
    assert_eq!(get("test_jobs_done_total"), 3.0);

    let fams = families(&text);
    for f in [
        "worker_messages",
        "worker_decode_failures",
        "worker_batches",
        "worker_handler_duration_seconds",
        "worker_handler_errors",
        "worker_route_ready",
        "worker_consumer_reconnects",
        "worker_consumer_in_flight_batches",
        "worker_consumer_buffered_messages",
        "worker_consumer_prefetch",
        "worker_connection_up",
        "worker_task_runs",
        "worker_task_skipped",
        "worker_http_requests",
        "worker_http_request_duration_seconds",
        "process_cpu_seconds",
        "process_resident_memory_bytes",
    ] {
        assert!(fams.iter().any(|x| x == f), "family `{f}` missing");
    }
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_path_moves_and_user_routes_cannot_take_it() {
    let s = TestServer::builder()
        .hooks(false)
        .route_record(&GET_ITEM)
        .env("WORKER_METRICS_PATH", "/internal/metrics")
        .start()
        .await;
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(s.url("/internal/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(c.get(s.url("/metrics")).send().await.unwrap().status(), 404);
    s.shutdown().await.unwrap();

    static ON_METRICS: Route = Route {
        name: "on_metrics",
        module: module_path!(),
        location: HERE,
        kind: RouteKind::Http {
            options: HttpOptions {
                methods: &["GET"],
                paths: &["/metrics"],
            },
            make: make_get_item,
        },
    };
    let config = worker_core::config::Config::from_vars(
        [
            ("WORKER_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            (
                "WORKER_AMQP_URL".to_owned(),
                "memory://metrics-clash".to_owned(),
            ),
        ],
        &Default::default(),
    )
    .unwrap();
    let runtime = worker_core::runtime::Runtime::builder(config)
        .routes(vec![&ON_METRICS])
        .hooks(vec![])
        .handle_signals(false)
        .service(std::sync::Arc::new(worker_http::HttpService::new()))
        .build();
    let err = runtime.run().await.unwrap_err().to_string();
    assert!(
        err.contains("`/metrics` is served by worker itself")
            && err.contains("WORKER_METRICS_PATH"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_failure_names_the_variable() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let config = worker_core::config::Config::from_vars(
        [
            ("WORKER_HTTP_ADDR".to_owned(), addr.clone()),
            (
                "WORKER_AMQP_URL".to_owned(),
                "memory://bind-clash".to_owned(),
            ),
        ],
        &Default::default(),
    )
    .unwrap();
    let runtime = worker_core::runtime::Runtime::builder(config)
        .routes(vec![&GET_ITEM])
        .hooks(vec![])
        .handle_signals(false)
        .service(std::sync::Arc::new(worker_http::HttpService::new()))
        .build();
    let err = runtime.run().await.unwrap_err().to_string();
    assert!(
        err.contains(&addr) && err.contains("WORKER_HTTP_ADDR"),
        "{err}"
    );
}

/// A scrape of 100 routes carries every route's series (its duration is
/// measured by `scripts/bench-http`, not here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraping_a_hundred_routes_lists_every_route() {
    let routes: Vec<&'static Route> = (0..100)
        .map(|i| {
            let queue: &'static str = Box::leak(format!("scrape_q{i}").into_boxed_str());
            let name: &'static str = Box::leak(format!("route_{i}").into_boxed_str());
            let queues: &'static [&'static str] = Box::leak(vec![queue].into_boxed_slice());
            &*Box::leak(Box::new(Route {
                name,
                module: module_path!(),
                location: HERE,
                kind: RouteKind::Amqp {
                    options: AmqpOptions::new(queues),
                    handler: check,
                },
            }))
        })
        .collect();
    let mut b = TestServer::builder().hooks(false);
    for r in routes {
        b = b.route_record(r);
    }
    let s = b.start().await;
    for i in 0..100 {
        s.publish(&format!("scrape_q{i}"), &2u64).await;
    }
    s.wait_idle().await;
    let text = reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = parse(&text);
    assert_eq!(
        (0..100)
            .filter(|i| series.get(&format!(
                r#"worker_messages_total{{route="route_{i}",queue="scrape_q{i}",action="acked"}}"#
            )) == Some(&1.0))
            .count(),
        100
    );
    s.shutdown().await.unwrap();
}
