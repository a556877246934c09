//! The whole runtime (consumer, batching, settlement, retries,
//! dead-lettering, named connections, vhosts) against a real RabbitMQ.
//! Routes are registered with the DSL; each test serves only its own.
//!
//! Start the broker with `scripts/rabbitmq start`. These tests fail, not
//! skip, when it is unreachable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use worker_core::backend::broker::{Broker, Channel, Deliveries, QueueOptions};
use worker_core::backend::metrics::{OutcomeCounts, StatsRegistry};
use worker_core::{App, Error, Message, Properties};
use worker_macros::route;
use worker_rabbitmq::{RabbitBroker, RabbitConnector, RabbitOptions};

use worker_testkit::amqp_url as url;

fn rabbitmqctl(args: &[&str]) -> bool {
    worker_testkit::rabbitmqctl_output(args).status.success()
}

async fn admin(url: &str) -> (RabbitBroker, worker_rabbitmq::RabbitChannel) {
    let broker = RabbitBroker::new(url, RabbitOptions::named("runtime-test-admin")).unwrap();
    let ch = broker.channel().await.unwrap_or_else(|e| {
        panic!("cannot reach RabbitMQ at {url} (run `scripts/rabbitmq start`): {e}")
    });
    (broker, ch)
}

/// Deletes and re-creates queues so a run starts clean.
async fn fresh_queues(ch: &worker_rabbitmq::RabbitChannel, queues: &[&str]) {
    for q in queues {
        // A purge through consume+ack would be slow; delete via TTL-less redeclare is not
        // possible, so drain whatever an earlier failed run left.
        ch.declare_queue(q, &QueueOptions::default()).await.unwrap();
        let mut d = ch.consume(&[q], "cleanup").await.unwrap();
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(150), d.next()).await
        {
            ch.ack(m.tag, false).await.unwrap();
        }
        ch.cancel().await.unwrap();
    }
}

/// The next message of `queue` (consumed on `ch`, not acked yet); panics
/// with `what` when none comes within 5 s.
async fn take_one(
    ch: &worker_rabbitmq::RabbitChannel,
    queue: &str,
    what: &str,
) -> worker_core::Delivery {
    let mut d = ch.consume(&[queue], "verify").await.unwrap();
    match tokio::time::timeout(Duration::from_secs(5), d.next()).await {
        Ok(Some(Ok(m))) => m,
        other => panic!("{what}: {other:?}"),
    }
}

/// Nothing is left in `queue`.
async fn assert_empty(ch: &worker_rabbitmq::RabbitChannel, queue: &str) {
    let mut d = ch.consume(&[queue], "verify").await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), d.next())
            .await
            .is_err(),
        "queue `{queue}` not empty"
    );
}

struct Running {
    app: App,
    stats: Arc<StatsRegistry>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

/// Runs the named routes (and nothing else of this test binary) on the
/// real broker.
async fn start(names: &[&str], extra: &[(&str, String)]) -> Running {
    let mut vars = vec![("WORKER_AMQP_URL".to_owned(), url())];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let app = App::new();
    let rt = worker_testkit::runtime(names, vars)
        .connector(Arc::new(RabbitConnector))
        .app(app.clone())
        .build();
    let stats = rt.stats().clone();
    let task = tokio::spawn(rt.run());
    Running { app, stats, task }
}

impl Running {
    fn outcomes(&self, route: &str, queue: &str) -> OutcomeCounts {
        self.stats
            .all()
            .into_iter()
            .find(|s| s.route == route)
            .and_then(|s| s.queues().get(queue).copied())
            .unwrap_or_default()
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.app.shutdown();
        self.task.await.unwrap().unwrap();
    }
}

// ---- ack / requeue / reject end to end -------------------------------------

static REDELIVERED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[route(amqp, crate = "worker_core", queues = ["worker-rt.decisions"], bulk_size = 10,
        bulk_flush_interval = "100ms", on_exception = reject)]
async fn rt_decisions(msgs: Vec<Message<Value>>) -> Result<(), Error> {
    for m in &msgs {
        let id = m.body()["id"].as_u64().unwrap();
        if m.redelivered() {
            REDELIVERED.lock().unwrap().push(id);
            m.ack();
            continue;
        }
        match m.body()["decision"].as_str() {
            Some("requeue") => m.requeue(),
            Some("reject") => m.reject(),
            _ => {}
        }
    }
    if msgs
        .iter()
        .any(|m| m.body()["fail"] == true && !m.redelivered())
    {
        return Err(Error::msg("batch failed on purpose"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_requeues_and_rejects_end_to_end() {
    let q = "worker-rt.decisions";
    let (_b, ch) = admin(&url()).await;
    fresh_queues(&ch, &[q]).await;
    // 20 plain acks, 5 requeues, 5 rejects, and one failing batch of 3
    // (on_exception = reject).
    let mut id = 0;
    let mut publish = |body: Value| {
        id += 1;
        let mut body = body;
        body["id"] = id.into();
        serde_json::to_vec(&body).unwrap()
    };
    let mut bodies = Vec::new();
    for _ in 0..20 {
        bodies.push(publish(serde_json::json!({})));
    }
    for _ in 0..5 {
        bodies.push(publish(serde_json::json!({"decision": "requeue"})));
    }
    for _ in 0..5 {
        bodies.push(publish(serde_json::json!({"decision": "reject"})));
    }
    for b in &bodies {
        ch.publish("", q, b, &Properties::default()).await.unwrap();
    }
    let r = start(&["rt_decisions"], &[]).await;
    r.wait_for("30 settled", |r| {
        let o = r.outcomes("rt_decisions", q);
        o.acked + o.rejected >= 30
    })
    .await;
    let o = r.outcomes("rt_decisions", q);
    assert_eq!((o.acked, o.requeued, o.rejected), (25, 5, 5), "{o:?}");
    let mut back = REDELIVERED.lock().unwrap().clone();
    back.sort();
    assert_eq!(back, (21..=25).collect::<Vec<u64>>());

    // A failing batch: every undecided message is rejected.
    for _ in 0..3 {
        ch.publish(
            "",
            q,
            &publish(serde_json::json!({"fail": true})),
            &Properties::default(),
        )
        .await
        .unwrap();
    }
    r.wait_for("failing batch", |r| {
        r.outcomes("rt_decisions", q).rejected >= 8
    })
    .await;
    r.stop().await;
    // Nothing is left behind.
    assert_empty(&ch, q).await;
}

// ---- retries with their count, then dead-lettering --------------------------

static ATTEMPTS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[route(amqp, crate = "worker_core", queues = ["worker-rt.retries"], max_retries = 2,
        retry_backoff = "200ms", dead_letter = "worker-rt.retries.dead")]
async fn rt_retries(msgs: Vec<Message<Value>>) -> Result<(), Error> {
    fail_recording_attempts(&ATTEMPTS, &msgs)
}

/// Records each message's retry count, then fails the batch.
fn fail_recording_attempts(
    attempts: &Mutex<Vec<u32>>,
    msgs: &[Message<Value>],
) -> Result<(), Error> {
    attempts
        .lock()
        .unwrap()
        .extend(msgs.iter().map(|m| m.retry_count()));
    Err(Error::msg("always fails"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_count_attempts_then_dead_letter() {
    let (q, dead) = ("worker-rt.retries", "worker-rt.retries.dead");
    let (_b, ch) = admin(&url()).await;
    fresh_queues(&ch, &[q, dead]).await;
    ch.publish("", q, br#"{"id": 1}"#, &Properties::default())
        .await
        .unwrap();
    let r = start(&["rt_retries"], &[]).await;
    r.wait_for("dead-lettering", |r| {
        r.outcomes("rt_retries", q).dead_lettered == 1
    })
    .await;
    assert_eq!(*ATTEMPTS.lock().unwrap(), vec![0, 1, 2]);
    let o = r.outcomes("rt_retries", q);
    assert_eq!((o.retried, o.dead_lettered, o.requeued), (2, 1, 0), "{o:?}");
    r.stop().await;
    let m = take_one(&ch, dead, "the dead-lettered message").await;
    assert_eq!(&m.body[..], br#"{"id": 1}"#);
    assert_eq!(
        m.properties
            .headers
            .get("x-retry-count")
            .and_then(|v| v.as_int()),
        Some(2)
    );
    assert_eq!(
        m.properties
            .headers
            .get("x-death-reason")
            .and_then(|v| v.as_str()),
        Some("retries exhausted")
    );
    ch.ack(m.tag, false).await.unwrap();
}

// ---- retry and dead-letter queues deleted at runtime ------------------------

static REDECLARE_ATTEMPTS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[route(amqp, crate = "worker_core", queues = ["worker-rt.redeclare"], max_retries = 1,
        retry_backoff = "200ms", dead_letter = "worker-rt.redeclare.dead")]
async fn rt_redeclare(msgs: Vec<Message<Value>>) -> Result<(), Error> {
    fail_recording_attempts(&REDECLARE_ATTEMPTS, &msgs)
}

/// Deletes queues (whether or not they exist) on a connection of its own.
async fn delete_queues(queues: &[&str]) {
    let connection = lapin::Connection::connect(&url(), lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    for queue in queues {
        channel
            .queue_delete(
                (*queue).into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("delete `{queue}`: {e}"));
    }
    let _ = connection.close(200, "bye".into()).await;
}

/// Publishes are mandatory: when the delay queue and the dead-letter queue
/// are deleted behind the worker's back, the republish comes back
/// unroutable instead of being confirmed into nowhere, and the settler
/// declares the queue again: the message is neither lost nor requeued in a
/// loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_retry_and_dead_letter_queues_are_declared_again() {
    let (q, dead, delay) = (
        "worker-rt.redeclare",
        "worker-rt.redeclare.dead",
        "worker-rt.redeclare.retry.200ms",
    );
    delete_queues(&[q, dead, delay]).await;
    let (_b, ch) = admin(&url()).await;
    fresh_queues(&ch, &[q, dead]).await;
    let r = start(&["rt_redeclare"], &[]).await;
    let dead_letter = |id: u64| {
        let (ch, r) = (&ch, &r);
        async move {
            let body = format!(r#"{{"id": {id}}}"#);
            ch.publish("", q, body.as_bytes(), &Properties::default())
                .await
                .unwrap();
            r.wait_for("the message dead-lettered", |r| {
                r.outcomes("rt_redeclare", q).dead_lettered == id
            })
            .await;
        }
    };
    dead_letter(1).await;
    delete_queues(&[delay, dead]).await;
    dead_letter(2).await;
    let o = r.outcomes("rt_redeclare", q);
    assert_eq!((o.retried, o.dead_lettered, o.requeued), (2, 2, 0), "{o:?}");
    assert_eq!(*REDECLARE_ATTEMPTS.lock().unwrap(), vec![0, 1, 0, 1]);
    r.stop().await;

    let m = take_one(
        &ch,
        dead,
        "the second message in the re-declared dead-letter queue",
    )
    .await;
    assert_eq!(&m.body[..], br#"{"id": 2}"#);
    ch.ack(m.tag, false).await.unwrap();
}

// ---- a dead-letter queue that refuses messages --------------------------------

static FULL_ATTEMPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[route(amqp, crate = "worker_core", queues = ["worker-rt.full"], on_exception = reject,
        dead_letter = "worker-rt.full.dead")]
async fn rt_full(_msgs: Vec<Message<Value>>) -> Result<(), Error> {
    FULL_ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Err(Error::msg("always fails"))
}

/// A dead-letter queue that refuses every message (`x-max-length = 0`,
/// `x-overflow = reject-publish`): the broker nacks the republish, so the
/// original is requeued (never lost), and the route pauses before handling
/// it again instead of spinning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_dead_letter_queue_requeues_without_spinning() {
    let (q, dead) = ("worker-rt.full", "worker-rt.full.dead");
    delete_queues(&[q, dead]).await;
    let (_b, ch) = admin(&url()).await;
    fresh_queues(&ch, &[q]).await;
    {
        use lapin::types::{AMQPValue, FieldTable, LongString};
        let connection = lapin::Connection::connect(&url(), lapin::ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let mut args = FieldTable::default();
        args.insert("x-max-length".into(), AMQPValue::LongLongInt(0));
        args.insert(
            "x-overflow".into(),
            AMQPValue::LongString(LongString::from("reject-publish")),
        );
        channel
            .queue_declare(
                dead.into(),
                lapin::options::QueueDeclareOptions::default(),
                args,
            )
            .await
            .unwrap();
        let _ = connection.close(200, "bye".into()).await;
    }
    ch.publish("", q, br#"{"id": 1}"#, &Properties::default())
        .await
        .unwrap();
    let r = start(&["rt_full"], &[]).await;
    r.wait_for("the first requeue", |r| {
        r.outcomes("rt_full", q).requeued >= 1
    })
    .await;
    // A window, not a measurement: a tight loop handles the message
    // hundreds of times in it; pausing 100, 200, 400, 800 ms... a handful.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let attempts = FULL_ATTEMPTS.load(std::sync::atomic::Ordering::SeqCst);
    let o = r.outcomes("rt_full", q);
    r.stop().await;
    assert!(
        (2..=20).contains(&attempts),
        "{attempts} attempts in 2 s: {o:?}"
    );
    assert_eq!(o.dead_lettered, 0, "{o:?}");
    let m = take_one(&ch, q, "the message is back in its queue").await;
    assert_eq!(&m.body[..], br#"{"id": 1}"#);
    ch.ack(m.tag, false).await.unwrap();
}

// ---- several queues, a named connection, another vhost ----------------------

static SEEN: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn count_by_queue(msgs: &[Message<Value>]) {
    let mut seen = SEEN.lock().unwrap();
    for m in msgs {
        *seen.entry(m.queue().to_owned()).or_default() += 1;
    }
}

#[route(amqp, crate = "worker_core", queues = ["worker-rt.multi.a", "worker-rt.multi.b"],
        bulk_size = 50, bulk_flush_interval = "100ms")]
async fn rt_multi(msgs: Vec<Message<Value>>) {
    count_by_queue(&msgs);
}

#[route(amqp, crate = "worker_core", queues = ["worker-rt.named"], connection = "other")]
async fn rt_named(msgs: Vec<Message<Value>>) {
    count_by_queue(&msgs);
}

#[route(amqp, crate = "worker_core", queues = ["worker-rt.vhost"], vhost = "worker-test")]
async fn rt_vhost(msgs: Vec<Message<Value>>) {
    count_by_queue(&msgs);
}

fn vhost_url(vhost: &str) -> String {
    worker_core::rules::url::with_vhost(&url(), vhost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_queues_a_named_connection_and_another_vhost() {
    // add_vhost fails when it exists already; the permissions must succeed.
    let _ = rabbitmqctl(&["add_vhost", "worker-test"]);
    assert!(rabbitmqctl(&[
        "set_permissions",
        "-p",
        "worker-test",
        "guest",
        ".*",
        ".*",
        ".*"
    ]));
    let (_b, ch) = admin(&url()).await;
    fresh_queues(
        &ch,
        &["worker-rt.multi.a", "worker-rt.multi.b", "worker-rt.named"],
    )
    .await;
    let (_vb, vch) = admin(&vhost_url("worker-test")).await;
    fresh_queues(&vch, &["worker-rt.vhost"]).await;
    for i in 0..30 {
        let q = if i % 3 == 0 {
            "worker-rt.multi.a"
        } else {
            "worker-rt.multi.b"
        };
        ch.publish("", q, b"{}", &Properties::default())
            .await
            .unwrap();
    }
    for _ in 0..4 {
        ch.publish("", "worker-rt.named", b"{}", &Properties::default())
            .await
            .unwrap();
        vch.publish("", "worker-rt.vhost", b"{}", &Properties::default())
            .await
            .unwrap();
    }
    let r = start(
        &["rt_multi", "rt_named", "rt_vhost"],
        &[("WORKER_AMQP_OTHER_URL", url())],
    )
    .await;
    r.wait_for("all queues drained", |_| {
        let s = SEEN.lock().unwrap();
        s.values().sum::<usize>() >= 38
    })
    .await;
    r.stop().await;
    let s = SEEN.lock().unwrap().clone();
    assert_eq!(s.get("worker-rt.multi.a"), Some(&10));
    assert_eq!(s.get("worker-rt.multi.b"), Some(&20));
    assert_eq!(s.get("worker-rt.named"), Some(&4));
    assert_eq!(s.get("worker-rt.vhost"), Some(&4));
}

// ---- a message published by a Python client ---------------------------------

#[derive(serde::Deserialize)]
struct Order {
    id: u64,
    tags: Vec<String>,
}

/// `(id, tags, source header)` of each decoded order.
type Decoded = (u64, Vec<String>, Option<String>);

static TYPED: Mutex<Vec<Decoded>> = Mutex::new(Vec::new());

#[route(amqp, crate = "worker_core", queues = ["worker-rt.pika"])]
async fn rt_pika(msgs: Vec<Message<Order>>) {
    for m in &msgs {
        let h = m
            .headers()
            .get("source")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        TYPED
            .lock()
            .unwrap()
            .push((m.body().id, m.body().tags.clone(), h));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_by_python_pika_is_decoded() {
    let (_b, ch) = admin(&url()).await;
    fresh_queues(&ch, &["worker-rt.pika"]).await;
    let script = r#"
import json, pika
conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2f"))
ch = conn.channel()
ch.basic_publish("", "worker-rt.pika", json.dumps({"id": 7, "tags": ["a", "b"]}),
                 pika.BasicProperties(content_type="application/json", headers={"source": "pika"}))
conn.close()
"#;
    worker_testkit::python_peer(script);
    let r = start(&["rt_pika"], &[]).await;
    r.wait_for("the pika message", |_| !TYPED.lock().unwrap().is_empty())
        .await;
    r.stop().await;
    assert_eq!(
        *TYPED.lock().unwrap(),
        vec![(
            7,
            vec!["a".to_owned(), "b".to_owned()],
            Some("pika".to_owned())
        )]
    );
}

// ---- a connection closed by the broker mid-run ------------------------------

static RECONNECT_IDS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[route(amqp, crate = "worker_core", queues = ["worker-rt.reconnect"], bulk_size = 10,
        bulk_flush_interval = "50ms")]
async fn rt_reconnect(msgs: Vec<Message<Value>>) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    RECONNECT_IDS
        .lock()
        .unwrap()
        .extend(msgs.iter().map(|m| m.body()["id"].as_u64().unwrap()));
}

/// Broker-side pids of this test binary's runtime connections.
fn runtime_connections() -> Vec<String> {
    let out =
        worker_testkit::rabbitmqctl_output(&["-q", "list_connections", "pid", "client_properties"]);
    let program = std::env::args().next().unwrap();
    let program = std::path::Path::new(&program)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let needle = format!("worker:{program}:default");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&needle))
        .filter_map(|l| l.split('\t').next().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_by_the_broker_loses_nothing() {
    let q = "worker-rt.reconnect";
    let (_b, ch) = admin(&url()).await;
    fresh_queues(&ch, &[q]).await;
    let total = 2000u64;
    for id in 1..=total {
        let body = serde_json::to_vec(&serde_json::json!({ "id": id })).unwrap();
        ch.publish("", q, &body, &Properties::default())
            .await
            .unwrap();
    }
    let r = start(&["rt_reconnect"], &[]).await;
    r.wait_for("the first batches", |_| {
        RECONNECT_IDS.lock().unwrap().len() >= 50
    })
    .await;
    let pids = runtime_connections();
    assert!(
        !pids.is_empty(),
        "the runtime's connection is visible by name"
    );
    for pid in &pids {
        assert!(rabbitmqctl(&["close_connection", pid, "fault injection"]));
    }
    r.wait_for("every id after the reconnect", |_| {
        let ids = RECONNECT_IDS.lock().unwrap();
        let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
        distinct.len() as u64 == total
    })
    .await;
    // The consumer counts a reconnect once its backoff has passed, which
    // can be after the last id was handled (all of them may even have been
    // handled before `close_connection` took effect): wait for it.
    r.wait_for("the consumer reconnected", |r| {
        let reconnects: u64 = r
            .stats
            .all()
            .iter()
            .map(|s| s.reconnects.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        reconnects >= 1
    })
    .await;
    r.stop().await;
    let ids = RECONNECT_IDS.lock().unwrap().clone();
    let duplicates = ids.len() as u64 - total;
    // At-least-once: batches in flight when the connection died come back.
    assert!(duplicates <= 2 * 10 + 1024, "duplicates {duplicates}");
    assert_empty(&ch, q).await;
}
