//! Hostile messages from a real RabbitMQ: headers nested as deep as an
//! AMQP frame allows. lapin parses frames recursively on its own thread,
//! so without a stack sized for the frame such a message aborted the
//! worker process (a stack overflow, not a panic), and then every worker
//! the broker redelivered it to. The `fault-worker` binary must survive
//! it, dead-letter it with one clear log line, and go on handling the
//! messages behind it.
//!
//! The messages are published through the management API: the broker
//! builds them from JSON, so the test process never parses such a frame
//! itself. `scripts/test` starts the node with the management plugin.

mod common;

use std::time::Duration;

use common::*;

/// The queues the worker's routes need (some declare their own).
const QUEUES: [&str; 5] = ["jobs", "strict", "strict.dlq", "late", "again"];

/// JSON headers `{"x": ...}` nesting `levels` lists (AMQP arrays, 5 bytes
/// a level) or objects (tables, 7 bytes a level) inside each other.
fn nested_headers(levels: usize, tables: bool) -> String {
    let (open, close) = if tables {
        (r#"{"k":"#, "}")
    } else {
        ("[", "]")
    };
    format!(
        r#"{{"x":{}true{}}}"#,
        open.repeat(levels),
        close.repeat(levels)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_nested_to_the_frame_limit_are_dead_lettered_and_the_worker_survives() {
    let _serial = SERIAL.lock().await;
    management_api().await;
    let vh = Vhost::fresh("hostile");
    vh.declare(&QUEUES).await;
    let mut w = WorkerProc::spawn("w", &vh, &[]);

    vh.publish_ids("strict", 0..5, false).await;
    wait_handled(&mut w, 5).await;

    // 26 000 arrays is 130 000 bytes of header, the most a frame of
    // 131 072 bytes (what the worker negotiates) holds; 18 000 tables
    // likewise; 2 000 levels was enough to abort a worker with the
    // default 2 MiB stack.
    for (levels, tables, id) in [
        (26_000, false, 1000),
        (18_000, true, 1001),
        (2_000, false, 1002),
    ] {
        vh.publish_by_management(
            "strict",
            &nested_headers(levels, tables),
            &format!(r#"{{"id":{id}}}"#),
        )
        .await;
    }
    vh.publish_ids("strict", 5..10, false).await;
    wait_handled(&mut w, 10).await;

    let dead = vh.drain("strict.dlq").await;
    assert!(w.running(), "the worker died:\n{}", w.tail());
    w.stop(Duration::from_secs(30)).await;
    w.log.refresh();
    let handled = w.log.route("strict");
    assert_eq!(
        handled.keys().copied().collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>(),
        "the nested ones never reach the handler"
    );
    let mut dead_ids = ids(&dead);
    dead_ids.sort_unstable();
    assert_eq!(dead_ids, [1000, 1001, 1002], "dead-lettered: {dead:?}");
    let output = w.output();
    let warnings: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("message cannot be read"))
        .collect();
    assert_eq!(warnings.len(), 3, "{output}");
    assert!(
        warnings
            .iter()
            .all(|l| l.contains("deeper than 64 levels") && l.contains(r#"route="strict""#)),
        "{warnings:#?}"
    );
    assert_eq!(vh.ready("strict").await, 0);
    println!(
        "[nested headers] 3 messages of 26 000, 18 000 and 2 000 levels dead-lettered, 10 others handled, the worker alive"
    );
    vh.delete();
}

/// Waits until the worker has handled `n` distinct `strict` ids.
async fn wait_handled(w: &mut WorkerProc, n: usize) {
    let (name, output) = (w.name.clone(), w.output.clone());
    let log = &mut w.log;
    wait_until(
        &format!("{n} distinct `strict` ids handled"),
        Duration::from_secs(60),
        || tail_of(&name, &output),
        async || {
            log.refresh();
            log.route_len("strict") >= n
        },
    )
    .await;
}
