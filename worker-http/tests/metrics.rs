//! `/metrics` scraped over HTTP and parsed: one assertion per metric family.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use worker_core::backend::registry::{AmqpOptions, Route, RouteKind};
use worker_core::{Error, Message};
use worker_http::metrics::prometheus_client::metrics::counter::Counter;
use worker_http::test_server::TestServer;
use worker_http::{Json, Path};
use worker_macros::route;
use worker_testkit::parse_metrics;

#[route(http, crate = "worker_http", method = GET, path = "/items/{id}")]
async fn get_item(Path(id): Path<u64>) -> Json<u64> {
    Json(id)
}

/// Takes the metrics endpoint's path: refused at startup.
#[route(http, crate = "worker_http", method = GET, path = "/metrics")]
async fn on_metrics() -> Json<u64> {
    Json(0)
}

/// Runs `route` with the HTTP server on `addr`; the error it stops with.
async fn startup_error(addr: &str, route: &str) -> String {
    let vars = [
        ("WORKER_HTTP_ADDR", addr.to_owned()),
        ("WORKER_AMQP_URL", format!("memory://startup-{route}")),
    ];
    let runtime = worker_testkit::runtime(&[route], vars)
        .service(std::sync::Arc::new(worker_http::HttpService::new()))
        .build();
    runtime
        .run()
        .await
        .expect_err("the runtime refuses to start")
        .to_string()
}

/// The status of `GET url`.
async fn status(c: &reqwest::Client, url: &str) -> u16 {
    c.get(url).send().await.unwrap().status().as_u16()
}

/// The record `#[route]` registered for `name`.
fn registered(name: &str) -> &'static Route {
    worker_testkit::registered(&[name])[0]
}

/// Acks even ids, rejects odd ones, fails the whole batch on id 13.
#[route(amqp, crate = "worker_http", queues = ["metrics_items"], bulk_size = 2,
        bulk_flush_interval = "20ms", on_exception = reject)]
async fn check(msgs: Vec<Message<u64>>) -> Result<(), Error> {
    if msgs.iter().any(|m| *m.body() == 13) {
        return Err(Error::msg("unlucky"));
    }
    for m in &msgs {
        if m.body() % 2 == 1 {
            m.reject();
        }
    }
    Ok(())
}

static TICKS: AtomicUsize = AtomicUsize::new(0);

#[route(every, crate = "worker_http", interval = "10ms")]
async fn tick() {
    TICKS.fetch_add(1, Ordering::SeqCst);
}

/// The families of the table in docs/operations.md (`_total` is a sample
/// suffix, not part of a family's name).
fn documented_families() -> Vec<String> {
    include_str!("../../docs/operations.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|name| name.starts_with("worker_") || name.starts_with("process_"))
        .map(|name| name.strip_suffix("_total").unwrap_or(name).to_owned())
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
        .route("get_item")
        .route("check")
        .route("tick")
        .env("WORKER_AMQP_PREFETCH", "64")
        .start()
        .await;
    let c = reqwest::Client::new();
    for i in 0..5 {
        assert_eq!(status(&c, &s.url(&format!("/items/{i}"))).await, 200);
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
    let m = parse_metrics(&text);
    let get = |k: &str| {
        *m.get(k)
            .unwrap_or_else(|| panic!("no series `{k}` in\n{text}"))
    };

    for (series, want) in [
        (
            r#"worker_http_requests_total{method="GET",route="/items/{id}",status="200"}"#,
            5.0,
        ),
        (
            r#"worker_http_requests_total{method="GET",route="/items/{id}",status="400"}"#,
            1.0,
        ),
        (
            r#"worker_http_requests_total{method="POST",route="/items/{id}",status="405"}"#,
            1.0,
        ),
        (
            r#"worker_http_requests_total{method="HEAD",route="/items/{id}",status="200"}"#,
            1.0,
        ),
        (
            r#"worker_http_requests_total{method="GET",route="unmatched",status="404"}"#,
            1.0,
        ),
        (
            r#"worker_http_request_duration_seconds_count{method="GET",route="/items/{id}"}"#,
            6.0,
        ),
        (
            r#"worker_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/items/{id}"}"#,
            6.0,
        ),
    ] {
        assert_eq!(get(series), want, "{series}");
    }

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
    for (series, want) in [
        (
            r#"worker_batches_total{route="check",reason="shutdown"}"#,
            0.0,
        ),
        (
            r#"worker_handler_errors_total{route="check",kind="error"}"#,
            1.0,
        ),
        (
            r#"worker_handler_errors_total{route="check",kind="panic"}"#,
            0.0,
        ),
        // Four batches ran: the adapter runs even when nothing decoded (and
        // then returns without calling the handler).
        (
            r#"worker_handler_duration_seconds_count{route="check"}"#,
            4.0,
        ),
        (r#"worker_route_ready{route="check"}"#, 1.0),
        (r#"worker_route_ready{route="tick"}"#, 1.0),
        (r#"worker_consumer_reconnects_total{route="check"}"#, 0.0),
        (r#"worker_consumer_cancelled_total{route="check"}"#, 0.0),
        (r#"worker_consumer_in_flight_batches{route="check"}"#, 0.0),
        (r#"worker_consumer_buffered_messages{route="check"}"#, 0.0),
        (r#"worker_consumer_prefetch{route="check"}"#, 64.0),
        (r#"worker_connection_up{connection="default"}"#, 1.0),
    ] {
        assert_eq!(get(series), want, "{series}");
    }
    assert!(get(r#"worker_task_runs_total{route="tick"}"#) >= 2.0);
    assert_eq!(get(r#"worker_task_skipped_total{route="tick"}"#), 0.0);
    assert!(get("process_resident_memory_bytes") > 0.0);
    // CPU time is sampled in 10 ms ticks: a short test may still read 0.
    assert!(get("process_cpu_seconds_total") >= 0.0);
    assert_eq!(get("test_jobs_done_total"), 3.0);

    // Every family docs/operations.md lists is exposed, and nothing else
    // of the runtime's.
    let fams = families(&text);
    let documented = documented_families();
    assert!(documented.len() >= 19, "{documented:?}");
    for f in &documented {
        assert!(fams.contains(f), "documented family `{f}` missing");
    }
    for f in fams.iter().filter(|f| f.starts_with("worker_")) {
        assert!(documented.contains(f), "family `{f}` is not documented");
    }
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_path_moves_and_user_routes_cannot_take_it() {
    let s = TestServer::builder()
        .hooks(false)
        .route("get_item")
        .env("WORKER_METRICS_PATH", "/internal/metrics")
        .start()
        .await;
    let c = reqwest::Client::new();
    assert_eq!(status(&c, &s.url("/internal/metrics")).await, 200);
    assert_eq!(status(&c, &s.url("/metrics")).await, 404);
    s.shutdown().await.unwrap();

    let err = startup_error("127.0.0.1:0", "on_metrics").await;
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
    let err = startup_error(&addr, "get_item").await;
    assert!(
        err.contains(&addr) && err.contains("WORKER_HTTP_ADDR"),
        "{err}"
    );
}

/// A scrape of 100 routes carries every route's series (its duration is
/// measured by `scripts/bench-http`, not here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraping_a_hundred_routes_lists_every_route() {
    // 100 copies of `check` on their own queues: records built at runtime.
    let RouteKind::Amqp { handler, .. } = registered("check").kind else {
        unreachable!("`check` is an amqp route")
    };
    let routes: Vec<&'static Route> = (0..100)
        .map(|i| {
            let queue: &'static str = Box::leak(format!("scrape_q{i}").into_boxed_str());
            let name: &'static str = Box::leak(format!("route_{i}").into_boxed_str());
            let queues: &'static [&'static str] = Box::leak(vec![queue].into_boxed_slice());
            &*Box::leak(Box::new(Route::new_amqp(
                name,
                module_path!(),
                AmqpOptions::new(queues),
                handler,
            )))
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
    let series = parse_metrics(&text);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_is_bounded_and_its_queue_depths_are_gauges() {
    let s = TestServer::builder()
        .route("get_item")
        .hooks(false)
        .declare("backlog")
        .env("WORKER_MEMORY_MAX_LENGTH", "3")
        .start()
        .await;
    let publisher = s.app().publisher().unwrap();
    for n in 0..3u64 {
        publisher.publish("", "backlog", &n).await.unwrap();
    }
    let e = publisher.publish("", "backlog", &3u64).await.unwrap_err();
    assert!(
        e.to_string().contains("WORKER_MEMORY_MAX_LENGTH"),
        "the 4th publish: {e}"
    );
    let text = reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics = parse_metrics(&text);
    let url = s.broker().url().to_owned();
    let series = |state: &str| {
        format!(
            r#"worker_embedded_queue_messages{{broker="{url}",queue="backlog",state="{state}"}}"#
        )
    };
    assert_eq!(metrics.get(&series("ready")), Some(&3.0), "{text}");
    assert_eq!(metrics.get(&series("unacked")), Some(&0.0), "{text}");
    assert_eq!(s.messages::<u64>("backlog"), [0, 1, 2]);
    s.shutdown().await.unwrap();
}
