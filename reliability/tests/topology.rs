//! `topology --format definitions` of a real worker binary (`fault-worker`)
//! imported with `rabbitmqctl import_definitions` into a fresh vhost: the
//! queues come out as the routes declare them (retry and dead-letter
//! queues included), and the worker then starts on them, its route with
//! `declare = false` consuming at once.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn definitions(vh: &Vhost) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_fault-worker"))
        .args(["topology", "--format", "definitions"])
        .env("WORKER_AMQP_URL", vh.url())
        .output()
        .expect("run fault-worker topology");
    assert!(
        out.status.success(),
        "topology failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON document")
}

/// The vhost's queues per `rabbitmqctl list_queues`, one line of the
/// tab-separated `columns` each (the first is `name`).
fn list_queues(vh: &Vhost, columns: &[&str]) -> Vec<String> {
    let mut args = vec!["-q", "--no-table-headers", "list_queues", "-p", &vh.name];
    args.extend_from_slice(columns);
    vh.ctl(&args).lines().map(str::to_owned).collect()
}

/// `name arguments` of every queue of the vhost, per `rabbitmqctl`.
fn queue_arguments(vh: &Vhost) -> Vec<(String, String)> {
    list_queues(vh, &["name", "arguments"])
        .iter()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, a)| (n.to_owned(), a.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_definitions_are_what_the_routes_declare() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("topology");
    let doc = definitions(&vh);
    let queues = doc["queues"].as_array().expect("queues");
    let names: Vec<&str> = queues.iter().map(|q| q["name"].as_str().unwrap()).collect();
    for expected in [
        "jobs",
        "jobs.dlq",
        "late",
        "flaky.retry.50ms",
        "flaky.retry.100ms",
        "flaky.retry.200ms",
        "sole",
        "limited",
        "limited.dlq",
        "billing",
    ] {
        assert!(
            names.contains(&expected),
            "`{expected}` missing from {names:?}"
        );
    }
    assert!(queues.iter().all(|q| q["vhost"] == vh.name.as_str()));
    assert_eq!(
        doc["exchanges"],
        serde_json::json!([{"name": "events", "vhost": vh.name, "type": "topic", "durable": true,
            "auto_delete": false, "internal": false, "arguments": {}}])
    );
    let keys: Vec<&str> = doc["bindings"]
        .as_array()
        .expect("bindings")
        .iter()
        .map(|b| b["routing_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["order.paid", "invoice.#"]);
    assert_eq!(doc["vhosts"], serde_json::json!([{ "name": vh.name }]));

    // On standard input: a file would have to be inside the broker's chroot.
    let out = worker_testkit::rabbitmqctl_stdin(
        &["import_definitions"],
        &serde_json::to_vec_pretty(&doc).unwrap(),
    );
    println!(
        "[topology] {} queues imported: {}",
        queues.len(),
        out.trim()
    );
    // The import finishes in the background.
    wait_until(
        "the imported queues",
        Duration::from_secs(30),
        String::new,
        async || queue_arguments(&vh).len() == queues.len(),
    )
    .await;
    let listed = queue_arguments(&vh);
    let args_of = |name: &str| {
        listed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("`{name}` not on the broker: {listed:?}"))
    };
    assert_eq!(listed.len(), queues.len(), "{listed:?}");
    let sole = args_of("sole");
    assert!(
        sole.contains("x-queue-type")
            && sole.contains("quorum")
            && sole.contains("x-single-active-consumer"),
        "{sole}"
    );
    let limited = args_of("limited");
    assert!(
        limited.contains("x-delivery-limit") && limited.contains("limited.dlq"),
        "{limited}"
    );
    let bindings = vh.ctl(&[
        "-q",
        "--no-table-headers",
        "list_bindings",
        "-p",
        &vh.name,
        "source_name",
        "destination_name",
        "routing_key",
    ]);
    let mut bound: Vec<&str> = bindings
        .lines()
        .filter(|l| l.starts_with("events\t"))
        .collect();
    bound.sort_unstable();
    assert_eq!(
        bound,
        ["events\tbilling\tinvoice.#", "events\tbilling\torder.paid"],
        "{bindings}"
    );
    let retry = args_of("flaky.retry.100ms");
    assert!(
        retry.contains("x-message-ttl") && retry.contains("100"),
        "{retry}"
    );
    assert!(
        retry.contains("x-dead-letter-routing-key") && retry.contains("flaky"),
        "{retry}"
    );

    // The worker starts on the imported queues: every route declares what
    // exists (no PRECONDITION_FAILED), and `late` (declare = false) consumes.
    let mut w = WorkerProc::spawn("w", &vh, &[]);
    let started = std::time::Instant::now();
    wait_until(
        "ready on the imported topology",
        Duration::from_secs(60),
        || w.tail(),
        async || w.get("/health/ready").await.is_some_and(|(s, _)| s == 200),
    )
    .await;
    let ready_after = started.elapsed();
    vh.publish_ids("late", 0..10, true).await;
    {
        let log = &mut w.log;
        wait_until(
            "10 late jobs handled",
            Duration::from_secs(30),
            String::new,
            async || {
                log.refresh();
                log.route_len("late") == 10
            },
        )
        .await;
    }
    let output = w.output();
    w.stop(Duration::from_secs(30)).await;
    println!(
        "[topology] the worker was ready {} ms after start on the imported queues",
        ready_after.as_millis()
    );
    assert!(!output.contains("PRECONDITION_FAILED"), "{output}");
    vh.delete();
}

/// Runs the official AsyncAPI parser (`scripts/asyncapi-install` installs
/// it; the test command does) on `doc`: its exit status and output.
fn validate(doc: &serde_json::Value, name: &str) -> (bool, String) {
    let path = std::env::temp_dir().join(format!("worker-asyncapi-{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/asyncapi/validate.mjs"
    );
    let out = Command::new("node")
        .args([script, path.to_str().unwrap()])
        .output()
        .expect("node (scripts/asyncapi-install sets up the parser)");
    let _ = std::fs::remove_file(&path);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_asyncapi_document_validates_with_the_official_parser() {
    let out = Command::new(env!("CARGO_BIN_EXE_fault-worker"))
        .args(["topology", "--format", "asyncapi"])
        .env("WORKER_AMQP_URL", "amqp://app:s3cret@rabbit:5672/%2fprod")
        .output()
        .expect("run fault-worker topology");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("s3cret"), "no password in the document");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["servers"]["default"]["host"], "rabbit:5672");
    assert_eq!(doc["channels"]["jobs_dlq"]["address"], "jobs.dlq");
    assert_eq!(
        doc["channels"]["sole"]["bindings"]["amqp"]["queue"]["vhost"],
        "/prod"
    );
    let paid = &doc["channels"]["events_order_paid"];
    assert_eq!(paid["address"], "order.paid", "{paid}");
    assert_eq!(paid["bindings"]["amqp"]["is"], "routingKey");
    assert_eq!(paid["bindings"]["amqp"]["exchange"]["type"], "topic");
    assert_eq!(doc["channels"]["events_invoice__"]["address"], "invoice.#");
    assert_eq!(doc["operations"]["jobs_receive_jobs"]["action"], "receive");
    assert_eq!(doc["operations"]["jobs_send_jobs_dlq"]["action"], "send");
    let (valid, report) = validate(&doc, "fault-worker");
    println!("[asyncapi] {}", report.trim());
    assert!(
        valid && report.contains("valid: AsyncAPI 3.0.0"),
        "{report}"
    );
    // The parser does reject a broken document.
    let mut broken = doc.clone();
    broken["operations"]["jobs_receive_jobs"]["action"] = "consume".into();
    let (valid, report) = validate(&broken, "broken");
    assert!(!valid && report.contains("invalid"), "{report}");
}

/// The per-process queues of `broadcast-worker`'s broadcast route on the
/// vhost (`config_events.<host>.<pid>.<nonce>`), with their `exclusive`
/// and `auto_delete` flags.
fn broadcast_queues(vh: &Vhost) -> Vec<String> {
    list_queues(vh, &["name", "exclusive", "auto_delete"])
        .into_iter()
        .filter(|l| l.starts_with("config_events."))
        .collect()
}

/// Whether every worker handled at least `count` distinct events.
fn handled_everywhere(workers: &mut [WorkerProc], count: usize) -> bool {
    for w in workers.iter_mut() {
        w.log.refresh();
    }
    workers
        .iter()
        .all(|w| w.log.route_len("config_events") >= count)
}

/// `broadcast = true`: three processes, each with its own exclusive,
/// auto-delete queue bound to the fanout exchange, each handle every
/// event once; a process that stops takes its queue with it, and the
/// others keep getting every event. The queues are per process, so the
/// definitions export the exchange only, and the AsyncAPI document stays
/// valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_every_process() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("broadcast");
    let bin = env!("CARGO_BIN_EXE_broadcast-worker");
    let mut workers: Vec<WorkerProc> = (0..3)
        .map(|i| WorkerProc::spawn_bin(bin, &format!("b{i}"), &vh, &[]))
        .collect();
    wait_until(
        "a broadcast queue per process",
        Duration::from_secs(30),
        || format!("{:?}", broadcast_queues(&vh)),
        async || broadcast_queues(&vh).len() == 3,
    )
    .await;
    let queues = broadcast_queues(&vh);
    for w in &workers {
        let mine: Vec<&String> = queues
            .iter()
            .filter(|q| q.contains(&format!(".{}.", w.pid())))
            .collect();
        assert_eq!(mine.len(), 1, "{} in {queues:?}", w.pid());
        assert!(
            mine[0].ends_with("\ttrue\ttrue"),
            "exclusive, auto-delete: {}",
            mine[0]
        );
    }
    let n = 500u64;
    vh.publish_ids_to("config", "", 0..n).await;
    {
        let ws = &mut workers;
        wait_until(
            "every process handled every event",
            Duration::from_secs(30),
            String::new,
            async || handled_everywhere(ws, n as usize),
        )
        .await;
    }
    for w in &workers {
        let counts = w.log.route("config_events");
        assert_eq!(counts.len(), n as usize, "{}", w.name);
        assert!(
            counts.values().all(|&c| c == 1),
            "{}: each event once",
            w.name
        );
    }
    // One process stops: its queue goes, the others get the next events.
    let mut gone = workers.remove(0);
    gone.stop(Duration::from_secs(30)).await;
    wait_until(
        "the stopped process's queue deleted",
        Duration::from_secs(30),
        || format!("{:?}", broadcast_queues(&vh)),
        async || broadcast_queues(&vh).len() == 2,
    )
    .await;
    vh.publish_ids_to("config", "", n..n + 100).await;
    {
        let ws = &mut workers;
        wait_until(
            "the two running processes handled the later events",
            Duration::from_secs(30),
            String::new,
            async || handled_everywhere(ws, n as usize + 100),
        )
        .await;
    }
    gone.log.refresh();
    assert_eq!(gone.log.route_len("config_events"), n as usize);
    println!(
        "[broadcast] 3 processes, {n} events: each handled all {n} once; one stopped, its queue deleted, the other two handled the next 100"
    );
    for w in &mut workers {
        w.stop(Duration::from_secs(30)).await;
    }

    let out = Command::new(bin)
        .args(["topology", "--format", "definitions"])
        .env("WORKER_AMQP_URL", vh.url())
        .output()
        .expect("run broadcast-worker topology");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["queues"], serde_json::json!([]), "no per-process queue");
    assert_eq!(doc["bindings"], serde_json::json!([]));
    assert_eq!(doc["exchanges"][0]["name"], "config");
    assert_eq!(doc["exchanges"][0]["type"], "fanout");
    let out = Command::new(bin)
        .args(["topology", "--format", "asyncapi"])
        .env("WORKER_AMQP_URL", vh.url())
        .output()
        .expect("run broadcast-worker topology");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let (valid, report) = validate(&doc, "broadcast-worker");
    assert!(valid, "{report}");
    vh.delete();
}
