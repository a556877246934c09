//! Fault scenarios against the real 3-node cluster of `scripts/rabbitmq
//! cluster start` (the test command starts it): a worker given the
//! comma-separated URLs of the three nodes, and the node holding its
//! connection SIGKILLed (its Erlang VM, not `stop_app`) mid-run. Every
//! message is accounted for: handled, or still queued; duplicates counted.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The node (1..=3) a connection named `name` is on: its name ends with
/// the node's `host:port` when the URL lists several nodes.
fn node_of(vh: &Vhost, name: &str) -> Option<usize> {
    let listing = vh.ctl(&["-q", "list_connections", "client_properties"]);
    let line = listing.lines().find(|l| l.contains(name))?;
    CLUSTER_PORTS
        .iter()
        .position(|p| line.contains(&format!("{name} 127.0.0.1:{p}\"")))
        .map(|i| i + 1)
}

/// Restarts a killed node when the scenario ends, passed or failed, so
/// that the cluster is whole for the next one.
struct Revive(Option<usize>);

impl Drop for Revive {
    fn drop(&mut self) {
        if let Some(node) = self.0.take() {
            rabbitmq_script(&["cluster", "restart", &node.to_string()]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_node_of_the_connection_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let mut vh = Vhost::fresh_on_cluster("cluster_kill");
    vh.declare_quorum(&["quorum_jobs"]).await;
    vh.declare(&[
        "jobs",
        "jobs.dlq",
        "flaky",
        "flaky.dlq",
        "strict",
        "strict.dlq",
    ])
    .await;
    let n = 20_000u64;
    vh.publish_ids("quorum_jobs", 0..n, true).await;

    let mut w = WorkerProc::spawn("w", &vh, &[("FAULT_QUORUM_SLEEP_MS", "30")]);
    let connection = "worker:fault-worker:default";
    {
        let log = &mut w.log;
        wait_until("3000 ids handled", secs(120), String::new, async || {
            log.refresh();
            log.route_len("quorum_jobs") >= 3_000
        })
        .await;
    }
    let node = node_of(&vh, connection)
        .unwrap_or_else(|| panic!("connection `{connection}` not listed with its node"));
    // rabbitmqctl must talk to a node that stays up.
    vh.use_ctl_node(&format!("c{}@localhost", node % 3 + 1));
    let mut revive = Revive(None);
    rabbitmq_script(&["cluster", "kill", &node.to_string()]);
    revive.0 = Some(node);
    let killed = Instant::now();
    w.log.refresh();
    let lines_at_kill = w.log.handlings;

    // Handling again on the new connection: the first message handled a
    // second time (the batch in flight when the node died was handled but
    // its ack died with the connection, so the broker redelivers it), or,
    // if none was in flight, any message handled while the connection is
    // listed on another node.
    {
        let (log, vh) = (&mut w.log, &vh);
        wait_until(
            "handling after the kill",
            secs(120),
            String::new,
            async || {
                log.refresh();
                let duplicate = log.counts.values().any(|&n| n > 1);
                duplicate
                    || (log.handlings > lines_at_kill
                        && node_of(vh, connection).is_some_and(|c| c != node))
            },
        )
        .await;
    }
    let recovery = killed.elapsed();
    {
        let log = &mut w.log;
        wait_until("every id handled", secs(300), String::new, async || {
            log.refresh();
            log.route_len("quorum_jobs") >= n as usize
        })
        .await;
    }
    let drained_after_kill = killed.elapsed();
    let connected_to = node_of(&vh, connection);
    w.stop(secs(30)).await;
    let handled = merged(&mut [&mut w], "quorum_jobs");
    let rest = vh.drain("quorum_jobs").await;
    let acc = Accounting::of(0..n, &handled, &[], &ids(&rest));
    println!(
        "[cluster kill] {n} persistent messages on a quorum queue; node {node} (the worker's) SIGKILLed after {lines_at_kill} handled; handling again {} ms after the kill, on node {connected_to:?}; all handled {} ms after the kill: {}",
        recovery.as_millis(),
        drained_after_kill.as_millis(),
        acc.summary()
    );
    assert!(acc.lost.is_empty(), "lost: {:?}", acc.lost);
    assert_eq!(acc.acked, n as usize, "{}", acc.summary());
    // At most the prefetch window (256) was in flight on the lost
    // connection, handled and then redelivered.
    assert!(acc.duplicates <= 256, "{}", acc.summary());
    assert!(
        connected_to.is_some_and(|c| c != node),
        "the worker reconnected to another node: {connected_to:?}"
    );
    drop(revive);
    vh.delete();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_limit_ends_a_message_that_always_fails() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh_on_cluster("cluster_limit");
    let mut w = WorkerProc::spawn("w", &vh, &[]);
    // The route declares `limited` (quorum, x-delivery-limit 3, its
    // dead_letter queue as the broker's dead-letter target) when it starts.
    let (out, name) = (w.output.clone(), w.name.clone());
    wait_until(
        "the route declared its queue",
        secs(60),
        || tail_of(&name, &out),
        async || {
            vh.ctl(&["-q", "list_queues", "-p", &vh.name, "name"])
                .lines()
                .any(|l| l.trim() == "limited")
        },
    )
    .await;
    vh.publish_ids("limited", [7], true).await;
    wait_until(
        "the message dead-lettered",
        secs(60),
        || w.tail(),
        async || vh.ready("limited.dlq").await == 1,
    )
    .await;
    w.log.refresh();
    let counts: Vec<String> = w
        .log
        .markers()
        .iter()
        .filter_map(|m| m.strip_prefix("# "))
        .filter(|m| m.starts_with("limited 7 "))
        .map(str::to_owned)
        .collect();
    let dead = vh.drain("limited.dlq").await;
    let output = w.output();
    w.stop(secs(30)).await;
    println!(
        "[cluster delivery limit] delivery_limit = 3: {} deliveries ({counts:?}), then dead-lettered by the broker to limited.dlq",
        counts.len()
    );
    assert_eq!(
        counts,
        [1, 2, 3, 4].map(|n| format!("limited 7 delivery_count {n}")),
        "RabbitMQ delivers a message limit + 1 times"
    );
    assert_eq!(ids(&dead), [7]);
    assert_eq!(vh.ready("limited").await, 0);
    assert!(
        output.contains("`on_exception = requeue` on a quorum queue with `delivery_limit = 3`"),
        "the startup warning:\n{output}"
    );
    vh.delete();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_four_workers_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let mut vh = Vhost::fresh_on_cluster("cluster_rolling");
    vh.declare_quorum(&["quorum_jobs"]).await;
    let n = 200_000u64;
    vh.publish_ids("quorum_jobs", 0..n, true).await;
    let started = Instant::now();
    // 50 ms per batch of 100: about 2 000 msg/s per worker, so that the
    // drain outlasts the three restarts.
    let mut workers: Vec<WorkerProc> = (1..=4)
        .map(|i| WorkerProc::spawn(&format!("w{i}"), &vh, &[("FAULT_QUORUM_SLEEP_MS", "50")]))
        .collect();
    let mut restarted = Vec::new();
    for node in 1..=3usize {
        {
            let ws = &mut workers;
            let want = node * 10_000;
            wait_until(
                "progress before the next restart",
                secs(120),
                String::new,
                async || {
                    let mut refs: Vec<&mut WorkerProc> = ws.iter_mut().collect();
                    merged(&mut refs, "quorum_jobs").len() >= want
                },
            )
            .await;
        }
        let name = format!("c{node}@localhost");
        vh.use_ctl_node(&format!("c{}@localhost", node % 3 + 1));
        let at = started.elapsed();
        node_ctl(&name, &["-q", "stop"]);
        rabbitmq_script(&["cluster", "restart", &node.to_string()]);
        restarted.push((node, at, started.elapsed()));
    }
    {
        let ws = &mut workers;
        wait_until("every id handled", secs(300), String::new, async || {
            let mut refs: Vec<&mut WorkerProc> = ws.iter_mut().collect();
            merged(&mut refs, "quorum_jobs").len() >= n as usize
        })
        .await;
    }
    let drained = started.elapsed();
    for w in &mut workers {
        w.stop(secs(30)).await;
    }
    let mut refs: Vec<&mut WorkerProc> = workers.iter_mut().collect();
    let handled = merged(&mut refs, "quorum_jobs");
    let per_worker: Vec<usize> = workers
        .iter()
        .map(|w| w.log.route("quorum_jobs").len())
        .collect();
    let rest = vh.drain("quorum_jobs").await;
    let acc = Accounting::of(0..n, &handled, &[], &ids(&rest));
    let restarts: Vec<String> = restarted
        .iter()
        .map(|(node, from, to)| {
            format!(
                "c{node} {:.1}-{:.1} s",
                from.as_secs_f64(),
                to.as_secs_f64()
            )
        })
        .collect();
    println!(
        "[cluster rolling restart] {n} persistent messages on a quorum queue, 4 workers ({per_worker:?} distinct each); nodes stopped and restarted in turn ({restarts:?}); drained in {:.1} s: {}",
        drained.as_secs_f64(),
        acc.summary()
    );
    assert!(acc.lost.is_empty(), "lost: {:?}", acc.lost);
    assert_eq!(acc.acked, n as usize, "{}", acc.summary());
    vh.use_ctl_node("c1@localhost");
    vh.delete();
}

/// Whether `/health/ready` of a worker answers 200 and lists `sole` as
/// standing by; `None` if not 200, or if `worker_route_standby` disagrees.
async fn standby(w: &WorkerProc) -> Option<bool> {
    let (status, body) = w.get("/health/ready").await?;
    let listed = body.contains(r#""standby":["sole"]"#);
    let (_, metrics) = w.get("/metrics").await?;
    let gauge = format!(
        r#"worker_route_standby{{route="sole"}} {}"#,
        u8::from(listed)
    );
    (status == 200 && metrics.contains(&gauge)).then_some(listed)
}

/// Lines `sole <active>` of `rabbitmqctl list_consumers`.
fn sole_consumers(vh: &Vhost) -> Vec<String> {
    vh.ctl(&[
        "-q",
        "list_consumers",
        "-p",
        &vh.name,
        "queue_name",
        "active",
    ])
    .lines()
    .filter(|l| l.starts_with("sole"))
    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_from_the_killed_single_active_consumer() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh_on_cluster("cluster_sac");
    // The one queue the fault worker does not declare, for readiness.
    vh.declare(&["late"]).await;
    // 20 ms per batch of 50: about 2 500 msg/s, so the run outlasts the kill.
    let mut workers: Vec<WorkerProc> = (1..=3)
        .map(|i| WorkerProc::spawn(&format!("w{i}"), &vh, &[("FAULT_SOLE_SLEEP_MS", "20")]))
        .collect();
    {
        let ws = &workers;
        wait_until(
            "three consumers of `sole`",
            secs(60),
            || ws.iter().map(WorkerProc::tail).collect(),
            async || sole_consumers(&vh).len() == 3,
        )
        .await;
    }
    let n = 20_000u64;
    vh.publish_ids("sole", 0..n, true).await;
    {
        let ws = &mut workers;
        wait_until("5000 ids handled", secs(120), String::new, async || {
            let mut refs: Vec<&mut WorkerProc> = ws.iter_mut().collect();
            merged(&mut refs, "sole").len() >= 5_000
        })
        .await;
    }
    let active: Vec<usize> = (0..3)
        .filter(|&i| workers[i].log.route_len("sole") > 0)
        .collect();
    assert_eq!(active.len(), 1, "exactly one worker handles `sole`");
    let first = active[0];
    let consumers = sole_consumers(&vh);
    let mut states = Vec::new();
    for w in &workers {
        states.push(standby(w).await);
    }
    let expected: Vec<Option<bool>> = (0..3).map(|i| Some(i != first)).collect();
    assert_eq!(
        states, expected,
        "ready, and standby on every worker but the active one ({first})"
    );
    workers[first].signal("KILL");
    let killed = Instant::now();
    let _ = workers[first].wait_exit(secs(10)).await;
    {
        let ws = &mut workers;
        wait_until(
            "handling after the kill",
            secs(60),
            String::new,
            async || {
                ws.iter_mut()
                    .enumerate()
                    .filter(|(i, _)| *i != first)
                    .any(|(_, w)| {
                        w.log.refresh();
                        w.log.route_len("sole") > 0
                    })
            },
        )
        .await;
    }
    let takeover = killed.elapsed();
    {
        let ws = &mut workers;
        wait_until("every id handled", secs(300), String::new, async || {
            let mut refs: Vec<&mut WorkerProc> = ws.iter_mut().collect();
            merged(&mut refs, "sole").len() >= n as usize
        })
        .await;
    }
    for (i, w) in workers.iter_mut().enumerate() {
        if i != first {
            w.stop(secs(30)).await;
        }
    }
    let rest = vh.drain("sole").await;
    let mut history = History::new();
    // Ten keys (id modulo 10): one consumer at a time keeps each in order.
    history.confirmed_keyed((0..n).map(|id| (id, id % 10)));
    let mut refs: Vec<&mut WorkerProc> = workers.iter_mut().collect();
    record_calls(&mut history, &mut refs, "sole");
    let per_worker: Vec<usize> = workers.iter().map(|w| w.log.route_len("sole")).collect();
    history.settled(ids(&rest), []);
    let v = history.check();
    println!(
        "[cluster single active consumer] {n} persistent messages on a quorum queue with x-single-active-consumer, 3 workers; consumers before the kill {consumers:?}; worker {} (the active one) SIGKILLed, a standby handling {} ms later; distinct ids per worker {per_worker:?}; {v}",
        first + 1,
        takeover.as_millis(),
    );
    assert_eq!(
        consumers.iter().filter(|c| c.ends_with("true")).count(),
        1,
        "rabbitmqctl lists one active consumer of three: {consumers:?}"
    );
    // No two workers ran batches at the same time.
    assert!(v.overlaps.is_empty(), "{v}: {:?}", v.overlaps);
    assert_eq!(v.handovers, 1, "one hand-over, at the kill: {v}");
    assert!(
        v.order_violations.is_empty(),
        "{v}: {:?}",
        v.order_violations
    );
    assert_eq!(
        per_worker.iter().filter(|&&d| d > 0).count(),
        2,
        "the killed worker and one standby handled messages: {per_worker:?}"
    );
    assert!(
        v.accounting.lost.is_empty(),
        "{v}: lost {:?}",
        v.accounting.lost
    );
    assert_eq!(v.accounting.acked, n as usize, "{v}");
    assert!(v.accounting.duplicates <= 256, "{v}");
    vh.delete();
}
