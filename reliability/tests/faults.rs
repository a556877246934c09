//! Fault injection against a real RabbitMQ: the `fault-worker` binary runs
//! as separate processes while the broker restarts, connections are killed,
//! signals arrive mid-batch, poison messages and failing handlers show up,
//! queues go missing, and several workers compete; afterwards every
//! published message is accounted for (acked, dead-lettered, or still in
//! its queue) and duplicates are counted.
//!
//! Each scenario has its own vhost (`fault_<scenario>`); scenarios run one
//! at a time because some restart the broker. Start the broker with
//! `scripts/rabbitmq start`: these tests fail, never skip, without it.
//! The figures they print (`--nocapture`) are the table of
//! docs/reliability.md.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    ids, merged, rabbitmqctl, tail_of, wait_until, Accounting, Drained, Vhost, WorkerProc, SERIAL,
};

const QUEUES: [&str; 9] = [
    "jobs",
    "jobs.dlq",
    "slow",
    "flaky",
    "flaky.dlq",
    "strict",
    "strict.dlq",
    "again",
    "late",
];
/// `worker::main!(prefetch = 256)` in the worker: the most a worker holds
/// unacknowledged, so the most one crash can make the broker redeliver.
const PREFETCH: usize = 256;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Waits until the worker has handled `n` distinct ids of `route`.
async fn wait_handled(w: &mut WorkerProc, route: &str, n: usize, limit: Duration) {
    let (name, output) = (w.name.clone(), w.output.clone());
    let log = &mut w.log;
    wait_until(
        &format!("{n} distinct `{route}` ids handled"),
        limit,
        || tail_of(&name, &output),
        async || {
            log.refresh();
            log.route_len(route) >= n
        },
    )
    .await;
}

/// Restarts the broker app on drop if a test left it stopped.
struct BrokerGuard {
    stopped: bool,
}

impl BrokerGuard {
    fn stop_app(&mut self) {
        self.stopped = true;
        rabbitmqctl(&["stop_app"]);
    }

    fn start_app(&mut self) {
        rabbitmqctl(&["start_app"]);
        rabbitmqctl(&["await_startup"]);
        self.stopped = false;
    }
}

impl Drop for BrokerGuard {
    fn drop(&mut self) {
        if self.stopped {
            let _ = worker_testkit::rabbitmqctl_output(&["start_app"]);
        }
    }
}

/// Scenarios 1 and 2: a connection-level fault while batches are in flight;
/// prints the accounting, how long the fault lasted and the time from the
/// broker being back to the first message handled again.
async fn connection_fault(scenario: &str, inject: impl FnOnce(&mut BrokerGuard, &Vhost)) {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh(scenario);
    vh.declare(&QUEUES).await;
    let n = 20_000u64;
    vh.publish_ids("jobs", 0..n, true).await;
    let mut w = WorkerProc::spawn("w", &vh, &[("FAULT_JOBS_SLEEP_MS", "20")]);
    wait_handled(&mut w, "jobs", n as usize / 10, secs(60)).await;

    let mut broker = BrokerGuard { stopped: false };
    let fault = Instant::now();
    inject(&mut broker, &vh);
    let back = Instant::now();
    let outage = back - fault;
    w.log.refresh();
    let lines_at_fault = w.log.handlings;
    {
        let log = &mut w.log;
        wait_until(
            "the first message handled after the fault",
            secs(120),
            String::new,
            async || {
                log.refresh();
                log.handlings > lines_at_fault
            },
        )
        .await;
    }
    let recovery = back.elapsed();
    wait_handled(&mut w, "jobs", n as usize, secs(120)).await;
    w.stop(secs(30)).await;

    let dlq = vh.drain("jobs.dlq").await;
    let rest = vh.drain("jobs").await;
    w.log.refresh();
    let acc = Accounting::of(0..n, &w.log.route("jobs"), &ids(&dlq), &ids(&rest));
    let output = w.output();
    println!(
        "[{scenario}] {n} messages: {}; fault injected for {outage:?}, first message handled {recovery:?} after the broker was back; {} reconnections logged",
        acc.summary(),
        output.matches("reconnecting").count()
    );
    assert!(acc.lost.is_empty(), "lost: {:?}", acc.lost);
    assert_eq!(acc.acked, n as usize, "{}", acc.summary());
    assert!(
        acc.duplicates <= PREFETCH,
        "more redeliveries than one prefetch window: {}",
        acc.summary()
    );
    assert!(
        output.contains("reconnecting"),
        "the worker did not log its reconnection\n{}",
        w.tail()
    );
    vh.delete();
}

/// 1. Broker restart mid-run (`stop_app` / `start_app`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_run_loses_nothing() {
    connection_fault("restart", |broker, _| {
        broker.stop_app();
        std::thread::sleep(secs(2));
        broker.start_app();
    })
    .await;
}

/// 2. Every connection of the vhost closed from the broker side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closed_by_the_broker_lose_nothing() {
    connection_fault("close", |_, vh| {
        rabbitmqctl(&["close_all_connections", "-p", &vh.name, "fault injection"]);
    })
    .await;
}

/// 3a. SIGTERM while a slow handler runs: the in-flight batch completes,
/// the partial batch (whose flush deadline is a minute away) is handed to
/// the handler, everything is acked, exit 0 within the shutdown timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_batch_finishes_and_acks_everything() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("sigterm");
    vh.declare(&QUEUES).await;
    vh.publish_ids("slow", 0..150, false).await;
    let mut w = WorkerProc::spawn(
        "w",
        &vh,
        &[("FAULT_SLOW_MS", "2000"), ("WORKER_SHUTDOWN_TIMEOUT", "10")],
    );
    {
        let w2 = &w;
        wait_until(
            "the first slow batch to start",
            secs(30),
            || w2.tail(),
            async || !w2.log.markers().is_empty(),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = w.stop(secs(10)).await;

    let markers = w.log.markers();
    w.log.refresh();
    let handled = w.log.route("slow");
    let rest = vh.drain("slow").await;
    let acc = Accounting::of(0..150, &handled, &[], &ids(&rest));
    println!(
        "[sigterm] 150 messages, handler 2 s per batch, SIGTERM mid-batch: {}; exit 0 after {took:?}; batches: {markers:?}",
        acc.summary()
    );
    assert_eq!(
        markers,
        ["# slow batch of 100 started", "# slow batch of 50 started"],
        "the in-flight batch and then the partial batch"
    );
    assert_eq!(acc.acked, 150, "{}", acc.summary());
    assert_eq!(acc.duplicates, 0);
    vh.delete();
}

/// 3b. SIGTERM with a handler slower than the shutdown timeout: its
/// messages are requeued, not lost, and the process still exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_past_the_timeout_requeues_unfinished_work() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("sigterm_timeout");
    vh.declare(&QUEUES).await;
    vh.publish_ids("slow", 0..150, false).await;
    let mut w = WorkerProc::spawn(
        "w",
        &vh,
        &[
            ("FAULT_SLOW_MS", "600000"),
            ("WORKER_SHUTDOWN_TIMEOUT", "2"),
        ],
    );
    {
        let w2 = &w;
        wait_until(
            "the slow batch to start",
            secs(30),
            || w2.tail(),
            async || !w2.log.markers().is_empty(),
        )
        .await;
    }
    // The timeout is 2 s; 6 s bounds the exit (closing takes a moment).
    let took = w.stop(secs(6)).await;
    w.log.refresh();
    let rest = vh.drain("slow").await;
    assert!(
        w.output().contains(
            "batches did not finish within WORKER_SHUTDOWN_TIMEOUT; their messages were requeued"
        ),
        "{}",
        w.tail()
    );
    let acc = Accounting::of(0..150, &w.log.route("slow"), &[], &ids(&rest));
    println!(
        "[sigterm past timeout] 150 messages, handler never finishes, timeout 2 s: {}; exit 0 after {took:?}",
        acc.summary()
    );
    assert!(acc.lost.is_empty(), "lost: {:?}", acc.lost);
    assert_eq!(acc.in_queue, 150, "{}", acc.summary());
    vh.delete();
}

/// 3c. SIGKILL mid-run: the broker redelivers everything unacked, and a
/// second worker finishes the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("sigkill");
    vh.declare(&QUEUES).await;
    let n = 5_000u64;
    vh.publish_ids("jobs", 0..n, false).await;
    let mut w1 = WorkerProc::spawn("w1", &vh, &[("FAULT_JOBS_SLEEP_MS", "20")]);
    wait_handled(&mut w1, "jobs", 1_000, secs(60)).await;
    w1.signal("KILL");
    assert!(w1.wait_exit(secs(10)).await.is_some(), "SIGKILL ignored?");
    w1.log.refresh();
    let handled_before = w1.log.route("jobs").len();
    // The broker returns the dead connection's unacked messages.
    let mut ready = 0;
    {
        let vh = &vh;
        let ready = &mut ready;
        wait_until(
            "unacked messages back in the queue",
            secs(30),
            String::new,
            async || {
                *ready = vh.ready("jobs").await as usize;
                *ready + handled_before >= n as usize
            },
        )
        .await;
    }

    let mut w2 = WorkerProc::spawn("w2", &vh, &[]);
    let missing: Vec<u64> = (0..n)
        .filter(|id| !w1.log.route("jobs").contains_key(id))
        .collect();
    {
        let (w1r, w2r) = (&mut w1, &mut w2);
        let total = n as usize;
        wait_until(
            "every id handled by one of the workers",
            secs(60),
            String::new,
            async || merged(&mut [&mut *w1r, &mut *w2r], "jobs").len() >= total,
        )
        .await;
    }
    w2.stop(secs(30)).await;
    let handled = merged(&mut [&mut w1, &mut w2], "jobs");
    let rest = vh.drain("jobs").await;
    let acc = Accounting::of(0..n, &handled, &[], &ids(&rest));
    println!(
        "[sigkill] {n} messages, killed after {handled_before} handled ({ready} back in the queue, {} never handled): {}",
        missing.len(),
        acc.summary()
    );
    assert!(acc.lost.is_empty(), "lost: {:?}", acc.lost);
    assert_eq!(acc.acked, n as usize, "{}", acc.summary());
    assert!(acc.duplicates <= PREFETCH, "{}", acc.summary());
    vh.delete();
}

/// A scrape of the worker's `/metrics` as `series -> value`.
async fn metrics(w: &WorkerProc) -> BTreeMap<String, f64> {
    let (status, text) = w.get("/metrics").await.expect("/metrics answers");
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn metric(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

/// 4. Poison messages mixed into a stream: each dead-lettered once with its
/// reason, counted; the good ones around them processed; no requeue loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_once() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("poison");
    vh.declare(&QUEUES).await;
    let poison: [(&str, Vec<u8>); 4] = [
        ("invalid-json", b"{\"id\": 12,".to_vec()),
        ("wrong-schema", br#"{"name": "no id here"}"#.to_vec()),
        ("empty-body", Vec::new()),
        ("ten-megabytes", vec![b'x'; 10 * 1024 * 1024]),
    ];
    let n = 1_000u64;
    let mut bodies: Vec<(Vec<u8>, Option<String>)> = Vec::new();
    for id in 0..n {
        if id % 250 == 100 {
            let (name, body) = &poison[(id / 250) as usize];
            bodies.push((body.clone(), Some(format!("poison-{name}"))));
        }
        bodies.push((format!(r#"{{"id":{id}}}"#).into_bytes(), None));
    }
    vh.publish_jobs("jobs", bodies, false).await;
    let mut w = WorkerProc::spawn("w", &vh, &[]);
    wait_handled(&mut w, "jobs", n as usize, secs(60)).await;
    {
        let vh = &vh;
        wait_until("four dead letters", secs(30), String::new, async || {
            vh.ready("jobs.dlq").await >= 4
        })
        .await;
    }
    let m = metrics(&w).await;
    w.stop(secs(30)).await;

    let dlq = vh.drain("jobs.dlq").await;
    let rest = vh.drain("jobs").await;
    w.log.refresh();
    let acc = Accounting::of(0..n, &w.log.route("jobs"), &[], &ids(&rest));
    let mut dead: Vec<(String, String, usize)> = dlq
        .iter()
        .map(|d: &Drained| {
            (
                d.message_id.clone().unwrap_or_default(),
                d.death_reason.clone().unwrap_or_default(),
                d.len,
            )
        })
        .collect();
    dead.sort();
    let decode_failures = metric(
        &m,
        r#"worker_decode_failures_total{route="jobs",queue="jobs"}"#,
    );
    let dead_lettered = metric(
        &m,
        r#"worker_messages_total{route="jobs",queue="jobs",action="dead_lettered"}"#,
    );
    let logged = w.output().matches("message body does not decode").count();
    println!(
        "[poison] {n} good + 4 poison: good {}; dead letters {dead:?}; metric decode failures {decode_failures}, dead-lettered {dead_lettered}; {logged} decode warnings logged",
        acc.summary()
    );
    let mut expected: Vec<(String, String, usize)> = poison
        .iter()
        .map(|(name, body)| {
            (
                format!("poison-{name}"),
                "decode failed".to_owned(),
                body.len(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(
        dead, expected,
        "each poison message dead-lettered exactly once"
    );
    assert!(rest.is_empty(), "left in the queue: {rest:?}");
    assert_eq!(acc.acked, n as usize, "{}", acc.summary());
    assert_eq!(acc.duplicates, 0, "{}", acc.summary());
    assert_eq!(decode_failures, 4.0);
    assert_eq!(dead_lettered, 4.0);
    // Decode warnings are rate-limited (one every 10 s per route, the
    // metric counts every failure): the four arrive together.
    assert!(
        (1..4).contains(&logged),
        "{logged} decode warnings for 4 poison messages"
    );
    vh.delete();
}

/// Publishes jobs `0..n` to `queue`; ids ending in 3 carry `"fail":
/// "error"` and ids ending in 7 `"fail": "panic"`. Returns the failing ids.
async fn publish_failing_jobs(vh: &Vhost, queue: &str, n: u64) -> Vec<u64> {
    let fail = |id: u64| match id % 10 {
        3 => Some("error"),
        7 => Some("panic"),
        _ => None,
    };
    let bodies = (0..n).map(|id| {
        let body = match fail(id) {
            Some(how) => format!(r#"{{"id":{id},"fail":"{how}"}}"#),
            None => format!(r#"{{"id":{id}}}"#),
        };
        (body.into_bytes(), None)
    });
    vh.publish_jobs(queue, bodies, false).await;
    (0..n).filter(|&id| fail(id).is_some()).collect()
}

/// Waits until `dlq` holds at least `n` messages.
async fn wait_dead_lettered(vh: &Vhost, dlq: &str, n: usize) {
    wait_until(
        &format!("{n} messages dead-lettered to `{dlq}`"),
        secs(60),
        String::new,
        async || vh.ready(dlq).await as usize >= n,
    )
    .await;
}

/// 5. A handler that errors or panics for some ids, with three retries:
/// exactly four attempts each, then the dead-letter queue; the worker keeps
/// running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handlers_retry_exactly_then_dead_letter() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("retries");
    vh.declare(&QUEUES).await;
    let n = 200u64;
    let failing = publish_failing_jobs(&vh, "flaky", n).await;
    let mut w = WorkerProc::spawn("w", &vh, &[]);
    wait_dead_lettered(&vh, "flaky.dlq", failing.len()).await;
    // Still running, and still consuming.
    assert!(w.running(), "the worker died\n{}", w.tail());
    vh.publish_ids("flaky", [n], false).await;
    wait_handled(&mut w, "flaky", n as usize + 1, secs(30)).await;
    let m = metrics(&w).await;
    w.stop(secs(30)).await;

    w.log.refresh();
    let attempts = w.log.route("flaky");
    let dlq = vh.drain("flaky.dlq").await;
    let rest = vh.drain("flaky").await;
    let by_attempts = histogram(&attempts);
    let retried = metric(
        &m,
        r#"worker_messages_total{route="flaky",queue="flaky",action="retried"}"#,
    );
    let errors = metric(
        &m,
        r#"worker_handler_errors_total{route="flaky",kind="error"}"#,
    );
    let panics = metric(
        &m,
        r#"worker_handler_errors_total{route="flaky",kind="panic"}"#,
    );
    println!(
        "[retries] {} messages, {} failing (error or panic), max_retries 3: attempts -> ids {by_attempts:?}; {} dead-lettered; metrics retried {retried}, errors {errors}, panics {panics}",
        n + 1,
        failing.len(),
        dlq.len()
    );
    for id in 0..=n {
        let expected = if failing.contains(&id) { 4 } else { 1 };
        assert_eq!(attempts.get(&id), Some(&expected), "attempts of id {id}");
    }
    let mut dead = ids(&dlq);
    dead.sort();
    assert_eq!(dead, failing, "each failing id dead-lettered exactly once");
    assert!(dlq
        .iter()
        .all(|d| d.death_reason.as_deref() == Some("retries exhausted")));
    assert!(rest.is_empty(), "left in the queue: {rest:?}");
    assert_eq!(retried, 3.0 * failing.len() as f64);
    assert_eq!(errors, 4.0 * 20.0);
    assert_eq!(panics, 4.0 * 20.0);
    vh.delete();
}

/// 5b. The exception policy of each route, without retries: `reject`
/// dead-letters a failing message after one attempt; `requeue` has the
/// broker redeliver it (the handler fails only on the first delivery, so
/// exactly two attempts, then acked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exception_policies_apply_per_route() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("policies");
    vh.declare(&QUEUES).await;
    let n = 200u64;
    let failing = publish_failing_jobs(&vh, "strict", n).await;
    assert_eq!(publish_failing_jobs(&vh, "again", n).await, failing);
    let mut w = WorkerProc::spawn("w", &vh, &[]);
    wait_dead_lettered(&vh, "strict.dlq", failing.len()).await;
    {
        let attempts = (n as usize + failing.len()) as u32;
        let (name, output) = (w.name.clone(), w.output.clone());
        let log = &mut w.log;
        wait_until(
            "every `again` message handled, the failing ones twice",
            secs(60),
            || tail_of(&name, &output),
            async || {
                log.refresh();
                log.route("again").values().sum::<u32>() >= attempts
            },
        )
        .await;
    }
    assert!(w.running(), "the worker died\n{}", w.tail());
    let m = metrics(&w).await;
    w.stop(secs(30)).await;

    w.log.refresh();
    let strict = w.log.route("strict");
    let again = w.log.route("again");
    let dlq = vh.drain("strict.dlq").await;
    let strict_rest = vh.drain("strict").await;
    let again_rest = vh.drain("again").await;
    let count = |key: &str| metric(&m, key);
    let strict_dead_lettered =
        count(r#"worker_messages_total{route="strict",queue="strict",action="dead_lettered"}"#);
    let strict_acked =
        count(r#"worker_messages_total{route="strict",queue="strict",action="acked"}"#);
    let again_requeued =
        count(r#"worker_messages_total{route="again",queue="again",action="requeued"}"#);
    let again_acked = count(r#"worker_messages_total{route="again",queue="again",action="acked"}"#);
    println!(
        "[policies] {n} messages per route, {} failing (error or panic): strict (reject): attempts {:?}, {} dead-lettered, metrics dead-lettered {strict_dead_lettered} acked {strict_acked}; again (requeue): attempts {:?}, metrics requeued {again_requeued} acked {again_acked}",
        failing.len(),
        histogram(&strict),
        dlq.len(),
        histogram(&again),
    );
    for id in 0..n {
        assert_eq!(strict.get(&id), Some(&1), "attempts of strict id {id}");
        let expected = if failing.contains(&id) { 2 } else { 1 };
        assert_eq!(again.get(&id), Some(&expected), "attempts of again id {id}");
    }
    let mut dead = ids(&dlq);
    dead.sort();
    assert_eq!(dead, failing, "each failing strict id dead-lettered once");
    assert!(dlq
        .iter()
        .all(|d| d.death_reason.as_deref() == Some("rejected")));
    assert!(strict_rest.is_empty(), "left in strict: {strict_rest:?}");
    assert!(again_rest.is_empty(), "left in again: {again_rest:?}");
    assert_eq!(strict_dead_lettered, failing.len() as f64);
    assert_eq!(strict_acked, (n as usize - failing.len()) as f64);
    assert_eq!(again_requeued, failing.len() as f64);
    assert_eq!(again_acked, n as f64);
    vh.delete();
}

/// Ids by number of attempts.
fn histogram(attempts: &BTreeMap<u64, u32>) -> BTreeMap<u32, usize> {
    let mut by_attempts = BTreeMap::new();
    for n in attempts.values() {
        *by_attempts.entry(*n).or_insert(0) += 1;
    }
    by_attempts
}

/// `(status, body)` of `/health/ready`.
async fn readiness(w: &WorkerProc) -> (u16, String) {
    w.get("/health/ready").await.unwrap_or((0, String::new()))
}

async fn wait_ready(w: &WorkerProc, want: u16, what: &str) {
    let last = std::sync::Mutex::new((0, String::new()));
    wait_until(
        what,
        secs(60),
        || format!("last readiness: {:?}\n{}", last.lock().unwrap(), w.tail()),
        async || {
            let now = readiness(w).await;
            let ok = now.0 == want;
            *last.lock().unwrap() = now;
            ok
        },
    )
    .await;
}

/// 6. A queue missing at startup, then deleted at runtime: only its route
/// stops and reports not-ready; it recovers when the queue is back; the
/// other routes keep consuming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_blocks_only_its_route() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("missing");
    vh.declare(&QUEUES[..5]).await;
    let mut w = WorkerProc::spawn("w", &vh, &[]);

    wait_ready(&w, 503, "not ready while `late` is missing").await;
    let (_, body) = readiness(&w).await;
    assert!(body.contains("late"), "readiness names the route: {body}");
    vh.publish_ids("jobs", 0..100, false).await;
    wait_handled(&mut w, "jobs", 100, secs(30)).await;

    let created = Instant::now();
    vh.declare(&["late"]).await;
    vh.publish_ids("late", 0..10, false).await;
    wait_handled(&mut w, "late", 10, secs(60)).await;
    wait_ready(&w, 200, "ready once `late` exists").await;
    let recovered = created.elapsed();

    vh.delete_queue("late").await;
    wait_ready(&w, 503, "not ready after `late` was deleted").await;
    let (_, body) = readiness(&w).await;
    assert!(body.contains("late"), "{body}");
    vh.publish_ids("jobs", 100..200, false).await;
    wait_handled(&mut w, "jobs", 200, secs(30)).await;

    let recreated = Instant::now();
    vh.declare(&["late"]).await;
    vh.publish_ids("late", 10..20, false).await;
    wait_handled(&mut w, "late", 20, secs(60)).await;
    wait_ready(&w, 200, "ready once `late` is back").await;
    let recovered_again = recreated.elapsed();
    w.stop(secs(30)).await;

    w.log.refresh();
    let jobs = Accounting::of(
        0..200,
        &w.log.route("jobs"),
        &[],
        &ids(&vh.drain("jobs").await),
    );
    let late = Accounting::of(
        0..20,
        &w.log.route("late"),
        &[],
        &ids(&vh.drain("late").await),
    );
    println!(
        "[missing queue] jobs: {}; late: {}; ready {recovered:?} after the queue was created, {recovered_again:?} after it was re-created",
        jobs.summary(),
        late.summary()
    );
    assert_eq!(
        (jobs.acked, jobs.duplicates),
        (200, 0),
        "{}",
        jobs.summary()
    );
    assert_eq!((late.acked, late.duplicates), (20, 0), "{}", late.summary());
    assert!(
        w.output().contains("route is not ready: create the queue"),
        "{}",
        w.tail()
    );
    vh.delete();
}

/// 7. Competing consumers: two, then four worker processes on one queue,
/// 200 000 messages each time; in the second run one worker is killed in
/// the middle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_workers_drain_everything_even_when_one_dies() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("scale");
    vh.declare(&QUEUES).await;
    let n = 200_000u64;

    for (round, count, kill) in [(0u64, 2usize, false), (1, 4, true)] {
        let range = round * n..(round + 1) * n;
        vh.publish_ids("jobs", range.clone(), false).await;
        let started = Instant::now();
        let mut workers: Vec<WorkerProc> = (0..count)
            .map(|i| WorkerProc::spawn(&format!("r{round}w{i}"), &vh, &[]))
            .collect();
        let mut killed_after = None;
        {
            let workers = &mut workers;
            let killed_after = &mut killed_after;
            wait_until("every id handled", secs(300), String::new, async || {
                // Cheap upper bound first; the exact count only near the end.
                let mut quick = 0;
                for w in workers.iter_mut() {
                    w.log.refresh();
                    quick += w.log.route_len("jobs");
                }
                let handled = if quick >= n as usize {
                    let mut refs: Vec<&mut WorkerProc> = workers.iter_mut().collect();
                    merged(&mut refs, "jobs").range(range.clone()).count()
                } else {
                    quick
                };
                if kill && killed_after.is_none() && handled >= n as usize / 4 {
                    workers[0].signal("KILL");
                    *killed_after = Some(handled);
                }
                handled >= n as usize
            })
            .await;
        }
        let elapsed = started.elapsed();
        let mut per_worker = Vec::new();
        for (i, w) in workers.iter_mut().enumerate() {
            w.log.refresh();
            per_worker.push(w.log.route("jobs").len());
            if kill && i == 0 {
                assert!(w.wait_exit(secs(10)).await.is_some());
            } else {
                w.stop(secs(30)).await;
            }
        }
        let mut refs: Vec<&mut WorkerProc> = workers.iter_mut().collect();
        let handled: BTreeMap<u64, u32> = merged(&mut refs, "jobs")
            .into_iter()
            .filter(|(id, _)| range.contains(id))
            .collect();
        let rest = vh.drain("jobs").await;
        let acc = Accounting::of(range.clone(), &handled, &[], &ids(&rest));
        println!(
            "[scale] {count} workers, {n} messages{}: {}; per worker {per_worker:?}; drained in {elapsed:?}",
            match killed_after {
                Some(k) => format!(", worker 0 SIGKILLed after {k} handled"),
                None => String::new(),
            },
            acc.summary()
        );
        assert!(
            acc.lost.is_empty(),
            "lost: {:?}",
            &acc.lost[..acc.lost.len().min(20)]
        );
        assert_eq!(acc.acked, n as usize, "{}", acc.summary());
        assert!(
            per_worker.iter().all(|&h| h > 0),
            "every worker took a share: {per_worker:?}"
        );
        if kill {
            assert!(acc.duplicates <= PREFETCH, "{}", acc.summary());
        } else {
            assert_eq!(acc.duplicates, 0, "{}", acc.summary());
        }
    }
    vh.delete();
}

/// 8. Soak: 1 000 000 messages through one worker, RSS sampled every
/// 100 ms: bounded by the prefetch window, no growth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_a_million_messages_with_flat_memory() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("soak");
    vh.declare(&QUEUES).await;
    let n = 1_000_000u64;
    // The worker consumes while the messages are published, as in
    // production; the queue never holds more than the publisher's lead.
    let mut w = WorkerProc::spawn("w", &vh, &[]);
    let started = Instant::now();
    let mut samples: Vec<(usize, u64)> = Vec::new();
    let published = {
        let w = &mut w;
        let samples = &mut samples;
        let publish = async {
            vh.publish_ids("jobs", 0..n, false).await;
            started.elapsed()
        };
        let handled = wait_until(
            "a million messages handled",
            secs(600),
            String::new,
            async || {
                w.log.refresh();
                let handled = w.log.route_len("jobs");
                samples.push((handled, w.rss_kib()));
                handled >= n as usize
            },
        );
        tokio::join!(publish, handled).0
    };
    let elapsed = started.elapsed();
    let idle_rss = w.rss_kib();
    w.stop(secs(30)).await;
    w.log.refresh();
    let rest = vh.drain("jobs").await;
    let acc = Accounting::of(0..n, &w.log.route("jobs"), &[], &ids(&rest));

    let mib = |k: u64| k as f64 / 1024.0;
    let first = samples.first().map_or(0, |s| s.1);
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    // Max of the second quarter vs max of the last quarter: growth would show here.
    let quarter = |q: usize| {
        samples
            .iter()
            .filter(|(h, _)| *h * 4 / n as usize == q)
            .map(|s| s.1)
            .max()
            .unwrap_or(0)
    };
    let (q2, q4) = (quarter(1), quarter(3));
    println!(
        "[soak] {n} messages published in {published:?}, handled in {elapsed:?}: {}; RSS first sample {:.1} MiB, max {:.1} MiB, max in 2nd quarter {:.1} MiB, in 4th quarter {:.1} MiB, idle after {:.1} MiB ({} samples)",
        acc.summary(),
        mib(first),
        mib(max),
        mib(q2),
        mib(q4),
        mib(idle_rss),
        samples.len()
    );
    assert!(acc.lost.is_empty(), "lost {}", acc.lost.len());
    assert_eq!(
        (acc.acked, acc.duplicates),
        (n as usize, 0),
        "{}",
        acc.summary()
    );
    // Bounds, not measurements: the prefetch window (256 small messages)
    // and the runtime fit in a few MiB; 64 MiB means something grows.
    assert!(max < 64 * 1024, "RSS reached {:.1} MiB", mib(max));
    assert!(
        q4 <= q2 + 8 * 1024,
        "RSS grew from {:.1} MiB to {:.1} MiB between the 2nd and the 4th quarter",
        mib(q2),
        mib(q4)
    );
    vh.delete();
}
