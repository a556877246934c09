//! HTTP overhead of worker over bare axum.
//!
//! Starts the same JSON endpoint twice in one process, on two ephemeral
//! ports: as a worker route (the real `HttpService`: JSON error middleware,
//! per-route metrics and panic guard, `State` extractor) and as a bare axum
//! app. Loads each with `wrk` in turn for several rounds and prints
//! requests/s, p99 latency and the worker/raw ratios. Run it with
//! `scripts/bench-http` (installs wrk); `BENCH_ROUNDS`, `BENCH_SECS`,
//! `BENCH_CONNECTIONS` and `BENCH_THREADS` tune the load. Then times
//! `GET /metrics` of an application with 100 routes.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use support::median;
use worker::http::{Json, Path};
use worker::runtime::Runtime;
use worker::{route, State};

mod support;

#[derive(Serialize)]
struct Item {
    id: u64,
    name: &'static str,
    tags: [&'static str; 3],
    price_cents: u64,
}

struct Catalog {
    name: &'static str,
}

fn item(id: u64, catalog: &Catalog) -> Item {
    Item {
        id,
        name: catalog.name,
        tags: ["red", "large", "sale"],
        price_cents: id * 100 + 99,
    }
}

#[route(http, method = GET, path = "/items/{id}")]
async fn get_item(Path(id): Path<u64>, State(catalog): State<Catalog>) -> Json<Item> {
    Json(item(id, &catalog))
}

async fn raw_get_item(
    Path(id): Path<u64>,
    axum::extract::State(catalog): axum::extract::State<Arc<Catalog>>,
) -> Json<Item> {
    Json(item(id, &catalog))
}

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Sample {
    rps: f64,
    p99_ms: f64,
}

/// `1.23ms`, `850.00us`, `1.02s` -> milliseconds.
fn millis(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

fn wrk(url: &str, secs: u64, connections: u64, threads: u64) -> Sample {
    let out = Command::new("wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
            url,
        ])
        .output()
        .expect("run wrk (scripts/bench-http installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    assert!(!text.contains("Non-2xx"), "errors during the run:\n{text}");
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in:\n{text}"));
    let p99_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| millis(v.trim()))
        .unwrap_or_else(|| panic!("no 99% latency in:\n{text}"));
    Sample { rps, p99_ms }
}

fn main() {
    if support::Args::of_bench("http", "bench-http").is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let (worker_url, raw_url) = rt.block_on(async {
        let config = worker::config::Config::from_vars(
            [
                ("WORKER_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
                (
                    "WORKER_AMQP_URL".to_owned(),
                    "memory://bench-http".to_owned(),
                ),
            ],
            &Default::default(),
        )
        .unwrap();
        let http = Arc::new(worker::http::HttpService::new());
        let app = worker::App::new();
        app.insert(Catalog { name: "widget" });
        let runtime = Runtime::builder(config)
            .routes(worker::__private_0_1_0::registry::routes())
            .hooks(vec![])
            .app(app)
            .handle_signals(false)
            .service(http.clone())
            .build();
        tokio::spawn(runtime.run());
        let addr = loop {
            if let Some(a) = http.local_addr() {
                break a;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };

        let raw = axum::Router::new()
            .route("/items/{id}", axum::routing::get(raw_get_item))
            .with_state(Arc::new(Catalog { name: "widget" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let raw_addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, raw).await.unwrap() });
        (
            format!("http://{addr}/items/42"),
            format!("http://{raw_addr}/items/42"),
        )
    });

    let rounds = env_or("BENCH_ROUNDS", 5);
    let secs = env_or("BENCH_SECS", 5);
    let connections = env_or("BENCH_CONNECTIONS", 32);
    let threads = env_or("BENCH_THREADS", 1);
    println!(
        "wrk -t{threads} -c{connections} -d{secs}s, {rounds} rounds, alternating; worker: {worker_url}, raw axum: {raw_url}"
    );
    // Warm-up of both (connections, allocator, caches).
    wrk(&worker_url, 1, connections, threads);
    wrk(&raw_url, 1, connections, threads);

    let mut worker_samples = Vec::new();
    let mut raw_samples = Vec::new();
    println!(
        "{:<6} {:<7} {:>12} {:>10}",
        "round", "server", "requests/s", "p99 ms"
    );
    for round in 1..=rounds {
        // Alternate which goes first, so drift does not favour one side.
        let order: [(&str, &str); 2] = if round % 2 == 1 {
            [("worker", &worker_url), ("raw", &raw_url)]
        } else {
            [("raw", &raw_url), ("worker", &worker_url)]
        };
        for (name, url) in order {
            let s = wrk(url, secs, connections, threads);
            println!("{round:<6} {name:<7} {:>12.0} {:>10.3}", s.rps, s.p99_ms);
            if name == "worker" {
                worker_samples.push(s);
            } else {
                raw_samples.push(s);
            }
        }
    }
    let w_rps = median(worker_samples.iter().map(|s| s.rps));
    let r_rps = median(raw_samples.iter().map(|s| s.rps));
    let w_p99 = median(worker_samples.iter().map(|s| s.p99_ms));
    let r_p99 = median(raw_samples.iter().map(|s| s.p99_ms));
    println!("median worker  {w_rps:>12.0} {w_p99:>10.3}");
    println!("median raw     {r_rps:>12.0} {r_p99:>10.3}");
    println!(
        "worker/raw: requests/s {:.3}, p99 {:.3}",
        w_rps / r_rps,
        w_p99 / r_p99
    );

    rt.block_on(scrape_hundred_routes());
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// Acks every message (the routes of the scrape measurement).
fn ack_all(
    _batch: worker::__private_0_1_0::Batch,
    _app: worker::App,
) -> worker::__private_0_1_0::BoxFuture<'static, Result<(), worker::Error>> {
    Box::pin(async { Ok(()) })
}

/// `GET /metrics` of an application with 100 amqp routes, each of which has
/// handled a message (so every per-route family has series): prints the
/// median and worst of 50 scrapes, target < 5 ms.
async fn scrape_hundred_routes() {
    use worker::__private_0_1_0::registry::{AmqpOptions, Route};
    use worker::testing::http::TestServer;

    let mut builder = TestServer::builder().hooks(false);
    for i in 0..100 {
        let queue: &'static str = Box::leak(format!("scrape_q{i}").into_boxed_str());
        let name: &'static str = Box::leak(format!("route_{i}").into_boxed_str());
        let queues: &'static [&'static str] = Box::leak(vec![queue].into_boxed_slice());
        let route: &'static Route = Box::leak(Box::new(Route::new_amqp(
            name,
            module_path!(),
            AmqpOptions::new(queues),
            ack_all,
        )));
        builder = builder.route_record(route);
    }
    let server = builder.start().await;
    for i in 0..100 {
        server.publish(&format!("scrape_q{i}"), &i).await;
    }
    server.wait_idle().await;

    let client = reqwest::Client::new();
    let url = server.url("/metrics");
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..50 {
        let started = std::time::Instant::now();
        let text = client.get(&url).send().await.unwrap().text().await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = text.len();
        assert!(
            text.contains(
                r#"worker_messages_total{route="route_99",queue="scrape_q99",action="acked"} 1"#
            ),
            "route_99 missing from the scrape"
        );
    }
    let worst = times.iter().copied().fold(0.0, f64::max);
    println!(
        "GET /metrics with 100 amqp routes ({bytes} bytes): median {:.3} ms, worst of 50 {:.3} ms (target < 5 ms)",
        median(times.into_iter()),
        worst
    );
    server.shutdown().await.unwrap();
}
