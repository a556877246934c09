//! The worker under test of the reliability suite, written with the DSL as
//! a user would. The tests run it as a separate process (one per worker),
//! point it at a scenario's vhost with `WORKER_AMQP_URL`, and read what it
//! handled from the file named by `FAULT_LOG`: one `<route> <id>` line per
//! handled message, written once the handler has finished with its batch
//! (before the runtime settles it), so a line means "handled at least once".
//!
//! Knobs (environment): `FAULT_LOG` (path; no log when unset),
//! `FAULT_JOBS_SLEEP_MS` (pause per `jobs` batch), `FAULT_QUORUM_SLEEP_MS`
//! (pause per `quorum_jobs` batch), `FAULT_SOLE_SLEEP_MS` (pause per `sole`
//! batch), `FAULT_SLOW_MS` (pause per `slow` batch, default 2000),
//! `FAULT_TICKS` (log the `tick` cron route's runs).

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use worker::http::{Json, Path, Query, StatusCode};
use worker::{route, Message};

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

fn log_file() -> &'static Mutex<Option<File>> {
    static LOG: OnceLock<Mutex<Option<File>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let file = std::env::var_os("FAULT_LOG").map(|path| {
            File::options()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("FAULT_LOG {path:?}: {e}"))
        });
        Mutex::new(file)
    })
}

/// Appends one line per id, in one write.
fn record(route: &str, ids: impl Iterator<Item = u64>) {
    let mut text = String::new();
    for id in ids {
        text.push_str(route);
        text.push(' ');
        text.push_str(&id.to_string());
        text.push('\n');
    }
    write_log(&text);
}

/// A line the accounting ignores, for the tests to see progress.
fn marker(what: &str) {
    write_log(&format!("# {what}\n"));
}

fn write_log(text: &str) {
    let mut log = log_file().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(file) = log.as_mut() {
        file.write_all(text.as_bytes()).expect("write FAULT_LOG");
    }
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
    if let Some(pause) = env_ms("FAULT_JOBS_SLEEP_MS") {
        tokio::time::sleep(pause).await;
    }
    record("jobs", msgs.iter().map(|m| m.body().id));
}

/// The same stream on a quorum queue (the cluster scenarios), with a pause
/// per batch from `FAULT_QUORUM_SLEEP_MS`.
#[route(amqp, queues = ["quorum_jobs"], bulk_size = 100, bulk_flush_interval = "200ms",
        queue_type = quorum, declare = true)]
async fn quorum_jobs(msgs: Vec<Message<Job>>) {
    if let Some(pause) = env_ms("FAULT_QUORUM_SLEEP_MS") {
        tokio::time::sleep(pause).await;
    }
    record("quorum_jobs", msgs.iter().map(|m| m.body().id));
}

/// Single active consumer on a quorum queue: of several worker processes
/// one consumes and the others stand by. Each batch also writes a marker
/// `# sole batch <start> <end>` (microseconds since the Unix epoch) so that
/// a test can check that no two processes ran batches at the same time.
#[route(amqp, queues = ["sole"], bulk_size = 50, bulk_flush_interval = "200ms",
        queue_type = quorum, declare = true, single_active = true)]
async fn sole(msgs: Vec<Message<Job>>) {
    let start = unix_micros();
    if let Some(pause) = env_ms("FAULT_SOLE_SLEEP_MS") {
        tokio::time::sleep(pause).await;
    }
    marker(&format!("sole batch {start} {}", unix_micros()));
    record("sole", msgs.iter().map(|m| m.body().id));
}

/// Fires every second in exactly one of the worker processes of a vhost
/// (`singleton = true`, locked on the broker): with `FAULT_TICKS` set,
/// each run writes the marker `# tick <unix second>` (other scenarios
/// read their own markers undisturbed).
#[route(cron, schedule = "* * * * * *", singleton = true)]
async fn tick() {
    if std::env::var_os("FAULT_TICKS").is_some() {
        marker(&format!("tick {}", unix_micros() / 1_000_000));
    }
}

fn unix_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_micros()
}

/// Always fails with `on_exception = requeue` on a quorum queue with
/// `delivery_limit = 3`: the broker ends it, dead-lettering the message to
/// `limited.dlq` (the runtime warns about this at startup). Each delivery
/// is logged with its `delivery_count()`.
#[route(amqp, queues = ["limited"], bulk_size = 1, queue_type = quorum, declare = true,
        delivery_limit = 3, dead_letter = "limited.dlq")]
async fn limited(msgs: Vec<Message<Job>>) -> Result<(), worker::Error> {
    for m in &msgs {
        let count = m
            .delivery_count()
            .map_or("none".to_owned(), |n| n.to_string());
        marker(&format!("limited {} delivery_count {count}", m.body().id));
    }
    record("limited", msgs.iter().map(|m| m.body().id));
    Err(worker::Error::msg("always fails"))
}

/// A slow handler whose partial batches wait a minute: shutdown must hand
/// them over rather than wait for the deadline.
#[route(amqp, queues = ["slow"], bulk_size = 100, bulk_flush_interval = "60s",
        declare = true)]
async fn slow(msgs: Vec<Message<Job>>) {
    marker(&format!("slow batch of {} started", msgs.len()));
    tokio::time::sleep(env_ms("FAULT_SLOW_MS").unwrap_or(Duration::from_secs(2))).await;
    record("slow", msgs.iter().map(|m| m.body().id));
}

/// Fails as each message says; every attempt is logged. Three retries with
/// backoff, then `flaky.dlq`.
#[route(amqp, queues = ["flaky"], bulk_size = 1, max_retries = 3, retry_backoff = "50ms",
        dead_letter = "flaky.dlq", declare = true)]
async fn flaky(msgs: Vec<Message<Job>>) -> Result<(), worker::Error> {
    record("flaky", msgs.iter().map(|m| m.body().id));
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
    record("strict", msgs.iter().map(|m| m.body().id));
    fail_as_told(&msgs)
}

/// Policy `on_exception = requeue` (the default), no retries: the broker
/// redelivers a failing message. Fails only on the first delivery, so each
/// failing message is handled exactly twice.
#[route(amqp, queues = ["again"], bulk_size = 1, on_exception = requeue, declare = true)]
async fn again(msgs: Vec<Message<Job>>) -> Result<(), worker::Error> {
    record("again", msgs.iter().map(|m| m.body().id));
    if msgs.iter().any(|m| m.redelivered()) {
        return Ok(());
    }
    fail_as_told(&msgs)
}

/// A queue the worker does not declare: the route waits for it.
#[route(amqp, queues = ["late"], bulk_size = 10, bulk_flush_interval = "100ms")]
async fn late(msgs: Vec<Message<Job>>) {
    record("late", msgs.iter().map(|m| m.body().id));
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
