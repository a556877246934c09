//! The worker under test of the reliability suite, written with the DSL as
//! a user would. The tests run it as a separate process (one per worker),
//! point it at a scenario's vhost with `WORKER_AMQP_URL`, and read what it
//! handled from the file named by `FAULT_LOG`: one call record per handler
//! call (`worker_reliability::history`: route, start, end, the batch's ids),
//! written once the handler has finished with its batch (before the runtime
//! settles it), so a record means "handled at least once".
//!
//! Knobs (environment): `FAULT_LOG` (path; no log when unset),
//! `FAULT_JOBS_SLEEP_MS` (pause per `jobs` batch), `FAULT_QUORUM_SLEEP_MS`
//! (pause per `quorum_jobs` batch), `FAULT_SOLE_SLEEP_MS` (pause per `sole`
//! batch), `FAULT_SOLE_FENCED` (`sole` checks its ownership), `FAULT_SLOW_MS` (pause per `slow` batch, default 2000),
//! `FAULT_TICKS` (log the `tick` cron route's runs).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use worker::http::{Json, Path, Query, StatusCode};
use worker::{route, Message};
use worker_reliability::history::{unix_micros, Recorder};

/// The message body of every queue: a unique id, and how to fail.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct Job {
    id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fail: Option<Fail>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum Fail {
    Error,
    Panic,
}

fn env_ms(key: &str) -> Option<Duration> {
    let v = std::env::var(key).ok()?;
    let ms: u64 = v
        .parse()
        .unwrap_or_else(|_| panic!("{key} must be milliseconds, got `{v}`"));
    Some(Duration::from_millis(ms))
}

/// The main stream: batches of 100, poison messages dead-lettered to
/// `jobs.dlq` (decode failures are never requeued).
#[route(amqp, queues = ["jobs"], bulk_size = 100, bulk_flush_interval = "200ms",
        dead_letter = "jobs.dlq", declare = true)]
async fn jobs(msgs: Vec<Message<Job>>) {
    let start = unix_micros();
    if let Some(pause) = env_ms("FAULT_JOBS_SLEEP_MS") {
        tokio::time::sleep(pause).await;
    }
    Recorder::call("jobs", start, msgs.iter().map(|m| m.body().id));
}

/// The same stream on a quorum queue (the cluster scenarios), with a pause
/// per batch from `FAULT_QUORUM_SLEEP_MS`.
#[route(amqp, queues = ["quorum_jobs"], bulk_size = 100, bulk_flush_interval = "200ms",
        queue_type = quorum, declare = true)]
async fn quorum_jobs(msgs: Vec<Message<Job>>) {
    let start = unix_micros();
    if let Some(pause) = env_ms("FAULT_QUORUM_SLEEP_MS") {
        tokio::time::sleep(pause).await;
    }
    Recorder::call("quorum_jobs", start, msgs.iter().map(|m| m.body().id));
}

/// Single active consumer on a quorum queue: of several worker processes
/// one consumes and the others stand by. The call records' start and end
/// show whether two processes ran batches at the same time. With
/// `FAULT_SOLE_FENCED` set the handler is fenced: it stops its pause as
/// soon as the batch's ownership is lost (`Message::ownership_lost`), and
/// commits (records its call) only if it still owns the batch; a fenced
/// call writes the marker `# fenced <start> <end> <batch size>` instead.
#[route(amqp, queues = ["sole"], bulk_size = 50, bulk_flush_interval = "200ms",
        queue_type = quorum, declare = true, single_active = true)]
async fn sole(msgs: Vec<Message<Job>>) {
    let start = unix_micros();
    let pause = env_ms("FAULT_SOLE_SLEEP_MS").unwrap_or_default();
    if std::env::var_os("FAULT_SOLE_FENCED").is_none() {
        tokio::time::sleep(pause).await;
        Recorder::call("sole", start, msgs.iter().map(|m| m.body().id));
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(pause) => {}
        _ = msgs[0].ownership_lost() => {}
    }
    if msgs[0].is_owned() {
        Recorder::call("sole", start, msgs.iter().map(|m| m.body().id));
    } else {
        Recorder::marker(&format!("fenced {start} {} {}", unix_micros(), msgs.len()));
    }
}

/// Fires every second in exactly one of the worker processes of a vhost
/// (`singleton = true`, locked on the broker): with `FAULT_TICKS` set,
/// each run writes the marker `# tick <unix second>` (other scenarios
/// read their own markers undisturbed).
#[route(cron, schedule = "* * * * * *", singleton = true)]
async fn tick() {
    if std::env::var_os("FAULT_TICKS").is_some() {
        Recorder::marker(&format!("tick {}", unix_micros() / 1_000_000));
    }
}

/// Always fails with `on_exception = requeue` on a quorum queue with
/// `delivery_limit = 3`: the broker ends it, dead-lettering the message to
/// `limited.dlq` (the runtime warns about this at startup). Each delivery
/// is logged with its `delivery_count()`.
#[route(amqp, queues = ["limited"], bulk_size = 1, queue_type = quorum, declare = true,
        delivery_limit = 3, dead_letter = "limited.dlq")]
async fn limited(msgs: Vec<Message<Job>>) -> Result<(), worker::Error> {
    let start = unix_micros();
    for m in &msgs {
        let count = m
            .delivery_count()
            .map_or("none".to_owned(), |n| n.to_string());
        Recorder::marker(&format!("limited {} delivery_count {count}", m.body().id));
    }
    Recorder::call("limited", start, msgs.iter().map(|m| m.body().id));
    Err(worker::Error::msg("always fails"))
}

/// A slow handler whose partial batches wait a minute: shutdown must hand
/// them over rather than wait for the deadline.
#[route(amqp, queues = ["slow"], bulk_size = 100, bulk_flush_interval = "60s",
        declare = true)]
async fn slow(msgs: Vec<Message<Job>>) {
    let start = unix_micros();
    Recorder::marker(&format!("slow batch of {} started", msgs.len()));
    tokio::time::sleep(env_ms("FAULT_SLOW_MS").unwrap_or(Duration::from_secs(2))).await;
    Recorder::call("slow", start, msgs.iter().map(|m| m.body().id));
}

/// Fails as each message says; every attempt is logged. Three retries with
/// backoff, then `flaky.dlq`.
#[route(amqp, queues = ["flaky"], bulk_size = 1, max_retries = 3, retry_backoff = "50ms",
        dead_letter = "flaky.dlq", declare = true)]
async fn flaky(msgs: Vec<Message<Job>>) -> Result<(), worker::Error> {
    let start = unix_micros();
    Recorder::call("flaky", start, msgs.iter().map(|m| m.body().id));
    fail_as_told(&msgs)
}

/// Fails the batch as its message says.
fn fail_as_told(msgs: &[Message<Job>]) -> Result<(), worker::Error> {
    for m in msgs {
        match m.body().fail {
            Some(Fail::Error) => {
                return Err(worker::Error::msg(format!("job {} failed", m.body().id)))
            }
            Some(Fail::Panic) => panic!("job {} panicked", m.body().id),
            None => {}
        }
    }
    Ok(())
}

/// Policy `on_exception = reject`, no retries: a failing message goes to
/// `strict.dlq` after one attempt.
#[route(amqp, queues = ["strict"], bulk_size = 1, on_exception = reject,
        dead_letter = "strict.dlq", declare = true)]
async fn strict(msgs: Vec<Message<Job>>) -> Result<(), worker::Error> {
    let start = unix_micros();
    Recorder::call("strict", start, msgs.iter().map(|m| m.body().id));
    fail_as_told(&msgs)
}

/// Policy `on_exception = requeue` (the default), no retries: the broker
/// redelivers a failing message. Fails only on the first delivery, so each
/// failing message is handled exactly twice.
#[route(amqp, queues = ["again"], bulk_size = 1, on_exception = requeue, declare = true)]
async fn again(msgs: Vec<Message<Job>>) -> Result<(), worker::Error> {
    let start = unix_micros();
    Recorder::call("again", start, msgs.iter().map(|m| m.body().id));
    if msgs.iter().any(|m| m.redelivered()) {
        return Ok(());
    }
    fail_as_told(&msgs)
}

/// A queue the worker does not declare: the route waits for it.
#[route(amqp, queues = ["late"], bulk_size = 10, bulk_flush_interval = "100ms")]
async fn late(msgs: Vec<Message<Job>>) {
    let start = unix_micros();
    Recorder::call("late", start, msgs.iter().map(|m| m.body().id));
}

/// A queue bound to a topic exchange, both declared by the route: what
/// `topology` exports and `check --drift` compares.
#[route(amqp, queues = ["billing"], exchange = "events", bindings = ["order.paid", "invoice.#"],
        declare = true, bulk_size = 10, bulk_flush_interval = "100ms")]
async fn billing(msgs: Vec<Message<Job>>) {
    let start = unix_micros();
    Recorder::call("billing", start, msgs.iter().map(|m| m.body().id));
}

#[route(http, method = GET, path = "/items/{id}")]
async fn get_item(Path(id): Path<u64>) -> Json<Job> {
    Json(Job { id, fail: None })
}

#[route(http, method = POST, path = "/items")]
async fn create_item(Json(job): Json<Job>) -> (StatusCode, Json<Job>) {
    (StatusCode::CREATED, Json(job))
}

#[derive(Debug, Deserialize, Serialize)]
struct Search {
    q: String,
    limit: u32,
}

#[route(http, method = GET, path = "/search")]
async fn search(Query(search): Query<Search>) -> Json<Search> {
    Json(search)
}

worker::main!(prefetch = 256);
