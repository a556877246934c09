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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_stay_json_through_panics_and_a_flood_of_bad_bodies() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("hostile_logs");
    vh.declare(&QUEUES).await;
    let mut w = WorkerProc::spawn("w", &vh, &[("WORKER_LOG_FORMAT", "json")]);

    // 20 bodies whose decode error would quote them, then a handler panic.
    let bad = (0..20).map(|i| {
        (
            format!(r#"{{"id":"secret-fragment-{i}"}}"#).into_bytes(),
            None,
        )
    });
    vh.publish_jobs("strict", bad, false).await;
    vh.publish_jobs(
        "strict",
        [(br#"{"id":7,"fail":"panic"}"#.to_vec(), None)],
        false,
    )
    .await;
    wait_handled(&mut w, 1).await;
    {
        let vh = &vh;
        wait_until(
            "21 dead letters",
            Duration::from_secs(30),
            String::new,
            async || vh.ready("strict.dlq").await >= 21,
        )
        .await;
    }
    w.stop(Duration::from_secs(30)).await;

    let output = w.output();
    let lines: Vec<serde_json::Value> = output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        !output.contains("secret-fragment"),
        "a body fragment reached the log:\n{output}"
    );
    let decode_warnings = lines
        .iter()
        .filter(|l| l["level"] == "WARN")
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("does not decode"))
        })
        .count();
    assert!(
        (1..20).contains(&decode_warnings),
        "{decode_warnings} warnings for 20 bad bodies:\n{output}"
    );
    let panics: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "worker::panic")
        .collect();
    assert_eq!(panics.len(), 1, "{output}");
    let location = panics[0]["fields"]["location"].as_str().unwrap_or_default();
    assert!(location.contains("fault-worker.rs"), "{}", panics[0]);
    assert!(
        panics[0]["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("job 7 panicked")),
        "{}",
        panics[0]
    );
    println!(
        "[json logs] {} lines, all JSON; 20 bad bodies gave {decode_warnings} warning(s) without their content; the panic: {location}",
        lines.len()
    );
    vh.delete();
}
