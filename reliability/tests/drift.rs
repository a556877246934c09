//! `check --drift` of a real worker binary (`fault-worker`) against the
//! real RabbitMQ and its management API (`scripts/test` starts the node
//! with the management plugin): a queue declared with a different type is
//! named with the argument that differs, and the check exits non-zero; on
//! the queues the worker declared itself there is no drift; without the
//! management URL the arguments cannot be compared, and the check says so.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const MANAGEMENT: &str = "http://guest:guest@127.0.0.1:15672";

fn check_drift(vh: &Vhost, management: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fault-worker"));
    cmd.args(["check", "--drift"])
        .env("WORKER_AMQP_URL", vh.url())
        .env_remove("WORKER_AMQP_MANAGEMENT_URL");
    if let Some(m) = management {
        cmd.env("WORKER_AMQP_MANAGEMENT_URL", m);
    }
    cmd.output().expect("run fault-worker check --drift")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_queue_type_is_drift() {
    let _serial = SERIAL.lock().await;
    management_api().await;
    let vh = Vhost::fresh("drift");
    // `late` must exist (the route does not declare it); `quorum_jobs`
    // is declared classic where its route declares a quorum queue.
    vh.declare(&["late", "quorum_jobs"]).await;
    let out = check_drift(&vh, Some(MANAGEMENT));
    let report = text(&out);
    println!("[drift] changed argument:\n{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("quorum_jobs: x-queue-type is classic, the route declares quorum"),
        "{report}"
    );
    assert!(
        !report.contains("guest:guest"),
        "the password is masked: {report}"
    );

    // The queues as the worker declares them: no drift.
    vh.delete_queue("quorum_jobs").await;
    let mut w = WorkerProc::spawn("w", &vh, &[]);
    wait_until(
        "ready",
        Duration::from_secs(60),
        || w.tail(),
        async || w.get("/health/ready").await.is_some_and(|(s, _)| s == 200),
    )
    .await;
    w.stop(Duration::from_secs(30)).await;
    let out = check_drift(&vh, Some(MANAGEMENT));
    let report = text(&out);
    println!("[drift] as declared:\n{report}");
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains("queues as their routes declare them"),
        "{report}"
    );
    assert!(!report.contains("error"), "{report}");
    assert!(
        report.contains(
            "the queues of route `billing` are bound as it declares (2 bindings each to `events`)"
        ),
        "{report}"
    );

    // A binding added by hand, which the route does not declare: drift.
    let url = format!(
        "http://127.0.0.1:15672/api/bindings/{}/e/events/q/billing",
        vh.name.replace('/', "%2F")
    );
    let res = worker_testkit::http_client()
        .post(&url)
        .basic_auth("guest", Some("guest"))
        .json(&serde_json::json!({"routing_key": "order.#"}))
        .send()
        .await
        .expect("management API");
    assert!(res.status().is_success(), "{}", res.status());
    let out = check_drift(&vh, Some(MANAGEMENT));
    let report = text(&out);
    println!("[drift] an extra binding:\n{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("billing: bound to events \"order.#\", which the route does not declare"),
        "{report}"
    );

    // Without the management API: said, not silently passed.
    let out = check_drift(&vh, None);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains("queue arguments could not be compared"),
        "{report}"
    );
    assert!(report.contains("WORKER_AMQP_MANAGEMENT_URL"), "{report}");
    vh.delete();
}
