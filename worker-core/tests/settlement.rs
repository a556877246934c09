//! Settlement on the embedded broker: every combination of route policy
//! (`on_success` x `on_exception`), handler outcome (ok, error, panic) and
//! per-message decision (none, ack, reject, requeue), asserted on what the
//! broker did with each message.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Deserialize;
use worker_core::backend::registry::{self, Route};
use worker_core::testing::TestApp;
use worker_core::{Action, Error, Message};
use worker_macros::route;

#[derive(Debug, Deserialize)]
struct Case {
    id: u32,
    outcome: String,
    decision: Option<String>,
}

/// Ids seen redelivered (that is, requeued once), per queue.
static REDELIVERED: Mutex<BTreeMap<String, Vec<u32>>> = Mutex::new(BTreeMap::new());

/// Follows each message's instructions: its decision, then the batch's
/// outcome; a redelivered message is recorded and acked.
fn handle(msgs: Vec<Message<Case>>) -> Result<(), Error> {
    let mut outcome = "ok".to_owned();
    for m in &msgs {
        if m.redelivered() {
            REDELIVERED
                .lock()
                .unwrap()
                .entry(m.queue().to_owned())
                .or_default()
                .push(m.body().id);
            m.ack();
            return Ok(());
        }
        match m.body().decision.as_deref() {
            Some("ack") => m.ack(),
            Some("reject") => m.reject(),
            Some("requeue") => m.requeue(),
            _ => {}
        }
        outcome = m.body().outcome.clone();
    }
    match outcome.as_str() {
        "error" => Err(Error::msg("handler failed on purpose")),
        "panic" => panic!("handler panicked on purpose"),
        _ => Ok(()),
    }
}

/// A route with the policy `on_success = $succ, on_exception = $exc`.
macro_rules! policy_route {
    ($name:ident, $queue:tt, $succ:tt, $exc:tt) => {
        #[route(amqp, crate = "worker_core", queues = [$queue], on_success = $succ, on_exception = $exc)]
        async fn $name(msgs: Vec<Message<Case>>) -> Result<(), Error> {
            handle(msgs)
        }
    };
}

// Every `on_success` x `on_exception` policy.
policy_route! { ack_ack, "s.ack.ack", ack, ack }
policy_route! { ack_reject, "s.ack.reject", ack, reject }
policy_route! { ack_requeue, "s.ack.requeue", ack, requeue }
policy_route! { reject_ack, "s.reject.ack", reject, ack }
policy_route! { reject_reject, "s.reject.reject", reject, reject }
policy_route! { reject_requeue, "s.reject.requeue", reject, requeue }
policy_route! { requeue_ack, "s.requeue.ack", requeue, ack }
policy_route! { requeue_reject, "s.requeue.reject", requeue, reject }
policy_route! { requeue_requeue, "s.requeue.requeue", requeue, requeue }

const POLICIES: [&str; 9] = [
    "ack_ack",
    "ack_reject",
    "ack_requeue",
    "reject_ack",
    "reject_reject",
    "reject_requeue",
    "requeue_ack",
    "requeue_reject",
    "requeue_requeue",
];

/// The records `#[route]` registered for the policy routes.
fn policy_routes() -> Vec<&'static Route> {
    let routes: Vec<&'static Route> = registry::routes()
        .into_iter()
        .filter(|r| POLICIES.contains(&r.name))
        .collect();
    assert_eq!(routes.len(), 9);
    routes
}

fn expected(policy: (Action, Action), outcome: &str, decision: Option<Action>) -> Action {
    decision.unwrap_or(if outcome == "ok" { policy.0 } else { policy.1 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_policy_outcome_and_decision_combination() {
    let routes = policy_routes();
    let mut builder = TestApp::builder();
    for r in &routes {
        builder = builder.route_record(r);
    }
    let t = builder.start().await;

    let decisions = [
        None,
        Some(Action::Ack),
        Some(Action::Reject),
        Some(Action::Requeue),
    ];
    let mut expectations = Vec::new();
    let mut id = 0;
    for route in &routes {
        let o = route.amqp().unwrap();
        let queue = o.queues[0];
        for outcome in ["ok", "error", "panic"] {
            for decision in decisions {
                id += 1;
                let body = serde_json::json!({
                    "id": id,
                    "outcome": outcome,
                    "decision": decision.map(Action::name),
                });
                t.publish(queue, &body).await;
                expectations.push((
                    queue,
                    id,
                    expected((o.on_success, o.on_exception), outcome, decision),
                    format!(
                        "policy {}/{} outcome {outcome} decision {decision:?}",
                        o.on_success, o.on_exception
                    ),
                ));
            }
        }
    }
    assert_eq!(expectations.len(), 108);
    t.wait_idle().await;

    let redelivered = REDELIVERED.lock().unwrap().clone();
    for route in &routes {
        let queue = route.amqp().unwrap().queues[0];
        let mine: Vec<_> = expectations.iter().filter(|e| e.0 == queue).collect();
        let want_requeued: Vec<u32> = mine
            .iter()
            .filter(|e| e.2 == Action::Requeue)
            .map(|e| e.1)
            .collect();
        let mut got = redelivered.get(queue).cloned().unwrap_or_default();
        got.sort();
        assert_eq!(got, want_requeued, "redelivered ids of {queue}: {mine:#?}");

        let count = |a: Action| mine.iter().filter(|e| e.2 == a).count() as u64;
        let report = t.report(queue);
        assert_eq!(
            report.requeued,
            count(Action::Requeue),
            "{queue}: {report:?}"
        );
        assert_eq!(
            report.rejected,
            count(Action::Reject),
            "{queue}: {report:?}"
        );
        // Requeued messages come back once and are then acked.
        assert_eq!(
            report.acked,
            count(Action::Ack) + count(Action::Requeue),
            "{queue}: {report:?}"
        );
        assert_eq!((report.ready, report.unacked), (0, 0), "{queue}");
        let broker = t.broker().stats(queue).unwrap();
        assert_eq!(
            broker.rejected as u64,
            count(Action::Reject),
            "{queue}: broker saw {broker:?}"
        );
    }
    t.shutdown().await.unwrap();
}

static HANDLED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn count(msgs: &[Message<Case>]) {
    HANDLED
        .lock()
        .unwrap()
        .extend(msgs.iter().map(|m| m.body().id));
}

#[route(amqp, crate = "worker_core", queues = ["d.reject"], bulk_size = 10,
        bulk_flush_interval = "50ms", on_exception = requeue)]
async fn decode_reject(msgs: Vec<Message<Case>>) {
    count(&msgs);
}

#[route(amqp, crate = "worker_core", queues = ["d.ack"], bulk_size = 10,
        bulk_flush_interval = "50ms", on_decode_error = ack)]
async fn decode_ack(msgs: Vec<Message<Case>>) {
    count(&msgs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decode_failures_are_settled_by_policy_and_never_requeued() {
    let t = TestApp::builder()
        .route("decode_reject")
        .route("decode_ack")
        .start()
        .await;
    for q in ["d.reject", "d.ack"] {
        t.publish(q, &serde_json::json!({"id": 1, "outcome": "ok"}))
            .await;
        t.publish_raw(q, b"{not json".to_vec()).await;
        t.publish_raw(q, Vec::new()).await;
        t.publish(q, &serde_json::json!({"wrong": "schema"})).await;
        t.publish(q, &serde_json::json!({"id": 2, "outcome": "ok"}))
            .await;
    }
    t.wait_idle().await;
    let r = t.report("d.reject");
    assert_eq!(
        (r.acked, r.rejected, r.requeued, r.decode_failures),
        (2, 3, 0, 3),
        "{r:?}"
    );
    let r = t.report("d.ack");
    assert_eq!(
        (r.acked, r.rejected, r.requeued, r.decode_failures),
        (5, 0, 0, 3),
        "{r:?}"
    );
    assert_eq!(t.broker().stats("d.reject").unwrap().rejected, 3);
    let mut handled = HANDLED.lock().unwrap().clone();
    handled.sort();
    assert_eq!(handled, vec![1, 1, 2, 2]);
    t.shutdown().await.unwrap();
}

#[route(amqp, crate = "worker_core", queues = ["r"], max_retries = 1, retry_backoff = "50ms",
        dead_letter = "r.dead", declare = true)]
async fn redeclare(_msgs: Vec<Message>) -> Result<(), Error> {
    Err(Error::msg("always fails"))
}

/// A publish that reaches no queue is an error on the embedded broker as on
/// RabbitMQ (mandatory publishes): when the delay queue and the dead-letter
/// queue are deleted behind the worker's back, the settler declares them
/// again; the message is neither lost nor requeued in a loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_retry_and_dead_letter_queues_are_declared_again() {
    let t = TestApp::builder().route("redeclare").start().await;
    let wait_dead_lettered = |n: u64| {
        let t = &t;
        async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            while t.report("r").dead_lettered < n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out waiting for {n} dead-lettered: {:?}",
                    t.report("r")
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    t.publish("r", &serde_json::json!({"id": 1})).await;
    wait_dead_lettered(1).await;
    assert!(
        t.broker().delete_queue("r.retry.50ms"),
        "the delay queue existed"
    );
    assert!(
        t.broker().delete_queue("r.dead"),
        "the dead-letter queue existed"
    );

    t.publish("r", &serde_json::json!({"id": 2})).await;
    wait_dead_lettered(2).await;
    t.wait_idle().await;
    let r = t.report("r");
    assert_eq!(
        (r.retried, r.dead_lettered, r.requeued, r.ready, r.unacked),
        (2, 2, 0, 0, 0),
        "{r:?}"
    );
    let dead = t.broker().stats("r.dead").expect("declared again");
    assert_eq!(
        dead.ready, 1,
        "the second message, in the new dead-letter queue"
    );
    t.shutdown().await.unwrap();
}
