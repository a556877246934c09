//! Routes bound to exchanges on a real RabbitMQ: a Python pika producer
//! publishes to a topic exchange (and to a headers exchange) that the
//! routes declared, and each route gets only the messages its bindings
//! name. Then `check --drift` compares the bindings on the broker.
//!
//! Start the broker with `scripts/rabbitmq start`; pika comes from
//! `.venv-peers` (`scripts/test` creates it, or set `WORKER_TEST_PYTHON`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use worker_core::{App, Error, Message};
use worker_macros::route;
use worker_rabbitmq::RabbitConnector;

use worker_testkit::amqp_url as url;

/// `(route, routing key, body id)` of every handled message.
static HANDLED: Mutex<Vec<(&'static str, String, u64)>> = Mutex::new(Vec::new());

fn record(route: &'static str, msgs: &[Message<Value>]) {
    let mut handled = HANDLED.lock().unwrap();
    for m in msgs {
        let id = m.body()["id"].as_u64().unwrap_or(u64::MAX);
        handled.push((route, m.routing_key().to_owned(), id));
    }
}

#[route(amqp, crate = "worker_core", queues = ["worker-ex.orders"], exchange = "worker-ex.events",
        bindings = ["order.*"], declare = true, bulk_flush_interval = "20ms")]
async fn ex_orders(msgs: Vec<Message<Value>>) {
    record("ex_orders", &msgs);
}

#[route(amqp, crate = "worker_core", queues = ["worker-ex.paid"], exchange = "worker-ex.events",
        bindings = ["order.paid"], declare = true, bulk_flush_interval = "20ms")]
async fn ex_paid(msgs: Vec<Message<Value>>) {
    record("ex_paid", &msgs);
}

#[route(amqp, crate = "worker_core", queues = ["worker-ex.invoices"], exchange = "worker-ex.events",
        bindings = ["invoice.#"], declare = true, bulk_flush_interval = "20ms")]
async fn ex_invoices(msgs: Vec<Message<Value>>) {
    record("ex_invoices", &msgs);
}

#[route(amqp, crate = "worker_core", queues = ["worker-ex.reports"], exchange = "worker-ex.docs",
        exchange_type = headers, bindings = ["format=pdf & type=report"], declare = true,
        bulk_flush_interval = "20ms")]
async fn ex_reports(msgs: Vec<Message<Value>>) {
    record("ex_reports", &msgs);
}

const ROUTES: &[&str] = &["ex_orders", "ex_paid", "ex_invoices", "ex_reports"];

fn rabbitmqctl(args: &[&str]) -> String {
    let out = worker_testkit::rabbitmqctl_output(args);
    assert!(out.status.success(), "rabbitmqctl {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `source destination routing_key arguments` of each binding of the test's
/// exchanges.
fn bindings() -> Vec<String> {
    let mut out: Vec<String> = rabbitmqctl(&[
        "-q",
        "--no-table-headers",
        "list_bindings",
        "source_name",
        "destination_name",
        "routing_key",
        "arguments",
    ])
    .lines()
    .filter(|l| l.starts_with("worker-ex."))
    .map(str::to_owned)
    .collect();
    out.sort();
    out
}

/// Deletes what an earlier run left: `queues` and `exchanges`.
async fn clean(queues: &[&str], exchanges: &[&str]) {
    let connection = lapin::Connection::connect(&url(), lapin::ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("cannot reach RabbitMQ (run `scripts/rabbitmq start`): {e}"));
    // A channel per deletion: a refusal closes the channel it happens on.
    for q in queues {
        let channel = connection.create_channel().await.unwrap();
        let _ = channel
            .queue_delete((*q).into(), lapin::options::QueueDeleteOptions::default())
            .await;
    }
    for e in exchanges {
        let channel = connection.create_channel().await.unwrap();
        let _ = channel
            .exchange_delete(
                (*e).into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await;
    }
    let _ = connection.close(200, "bye".into()).await;
}

const QUEUES: &[&str] = &[
    "worker-ex.orders",
    "worker-ex.paid",
    "worker-ex.invoices",
    "worker-ex.reports",
];
const EXCHANGES: &[&str] = &["worker-ex.events", "worker-ex.docs"];

/// The handled messages of `routes`, sorted.
fn handled_by(routes: &[&str]) -> Vec<(&'static str, String, u64)> {
    let mut out: Vec<_> = HANDLED
        .lock()
        .unwrap()
        .iter()
        .filter(|(r, _, _)| routes.contains(r))
        .cloned()
        .collect();
    out.sort();
    out
}

const PUBLISH: &str = r#"
import json, pika
conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2f"))
ch = conn.channel()
ch.confirm_delivery()
json_props = pika.BasicProperties(content_type="application/json")
for i, key in enumerate(["order.created", "order.paid", "invoice.sent", "invoice.sent.late", "shipping.done", "order"]):
    ch.basic_publish("worker-ex.events", key, json.dumps({"id": i}), json_props)
docs = [({"format": "pdf", "type": "report"}, 10), ({"format": "pdf"}, 11), ({"format": "csv", "type": "report"}, 12)]
for headers, i in docs:
    ch.basic_publish("worker-ex.docs", "ignored", json.dumps({"id": i}),
                     pika.BasicProperties(content_type="application/json", headers=headers))
conn.close()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pika_producer_reaches_only_the_routes_bound_to_its_keys() {
    clean(QUEUES, EXCHANGES).await;
    let app = App::new();
    let rt = worker_testkit::runtime(ROUTES, [("WORKER_AMQP_URL", url())])
        .connector(Arc::new(RabbitConnector))
        .app(app.clone())
        .build();
    let task = tokio::spawn(rt.run());

    // The routes declare both exchanges, their queues and bindings.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while bindings().len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bindings: {:?}",
            bindings()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = bindings();
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        found[0].starts_with("worker-ex.docs\tworker-ex.reports\t\t"),
        "{found:?}"
    );
    assert!(
        found[0].contains("x-match") && found[0].contains("all"),
        "{found:?}"
    );
    assert_eq!(
        found[1..],
        [
            "worker-ex.events\tworker-ex.invoices\tinvoice.#\t[]",
            "worker-ex.events\tworker-ex.orders\torder.*\t[]",
            "worker-ex.events\tworker-ex.paid\torder.paid\t[]",
        ]
    );

    worker_testkit::python_peer(PUBLISH);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while handled_by(ROUTES).len() < 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            handled_by(ROUTES)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing more comes: `shipping.done`, `order` and two documents match
    // no binding.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.shutdown();
    task.await.unwrap().unwrap();

    let handled = handled_by(ROUTES);
    let expected: Vec<(&str, String, u64)> = [
        ("ex_invoices", "invoice.sent", 2),
        ("ex_invoices", "invoice.sent.late", 3),
        ("ex_orders", "order.created", 0),
        ("ex_orders", "order.paid", 1),
        ("ex_paid", "order.paid", 1),
        ("ex_reports", "ignored", 10),
    ]
    .into_iter()
    .map(|(r, k, i)| (r, k.to_owned(), i))
    .collect();
    assert_eq!(handled, expected);
    println!(
        "[exchanges] {} deliveries, each to the routes its key binds",
        handled.len()
    );
    clean(QUEUES, EXCHANGES).await;
}

/// A route whose exchange does not exist, without `declare`, is not
/// ready, and says which exchange is missing; it starts once the exchange
/// and its queue exist.
#[route(amqp, crate = "worker_core", queues = ["worker-ex.late"], exchange = "worker-ex.later",
        bindings = ["late.*"], bulk_flush_interval = "20ms")]
async fn ex_late(msgs: Vec<Message<Value>>) -> Result<(), Error> {
    record("ex_late", &msgs);
    Ok(())
}

#[tokio::test]
async fn a_missing_exchange_is_reported_and_waited_for() {
    clean(&["worker-ex.late"], &["worker-ex.later"]).await;
    let logs = worker_testkit::Logs::capture();
    let app = App::new();
    let rt = worker_testkit::runtime(&["ex_late"], [("WORKER_AMQP_URL", url())])
        .connector(Arc::new(RabbitConnector))
        .app(app.clone())
        .build();
    let task = tokio::spawn(rt.run());
    let missing = "exchange `worker-ex.later` does not exist: declare it, or set `declare = true`";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while logs.matching("ERROR", missing).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not logged: {:?}",
            logs.lines()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker_testkit::python_peer(
        r#"
import json, pika
conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2f"))
ch = conn.channel()
ch.exchange_declare("worker-ex.later", "topic", durable=True)
ch.queue_declare("worker-ex.late", durable=True)
ch.queue_bind("worker-ex.late", "worker-ex.later", "late.*")
ch.confirm_delivery()
ch.basic_publish("worker-ex.later", "late.one", json.dumps({"id": 99}), pika.BasicProperties(content_type="application/json"))
conn.close()
"#,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while handled_by(&["ex_late"]).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not handled after the exchange appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.shutdown();
    task.await.unwrap().unwrap();
    assert_eq!(
        handled_by(&["ex_late"]),
        [("ex_late", "late.one".to_owned(), 99)]
    );
    clean(&["worker-ex.late"], &["worker-ex.later"]).await;
}
