//! An `sse` route at least once on RabbitMQ (the `sse-worker` binary): its
//! poison events end in `ticks.dead` after their retries, and a worker
//! SIGKILLed mid-stream and started again with `resume = true` continues
//! from the last settled event id kept on the broker, with no gap.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use worker_testkit::sse::EventSource;

const TOTAL: u64 = 3000;
const POISON: [u64; 3] = [777, 1777, 2777];

fn spawn(name: &str, vh: &Vhost, source: &EventSource) -> WorkerProc {
    WorkerProc::spawn_bin(
        env!("CARGO_BIN_EXE_sse-worker"),
        name,
        vh,
        &[("WORKER_SSE_TICKS_URL", source.url.as_str())],
    )
}

fn handled(w: &mut WorkerProc) -> Vec<u64> {
    w.log.refresh();
    w.log.route("ticks").keys().copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sse_worker_resumes_after_the_last_settled_event_and_dead_letters_the_poison() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("sse");
    let source = EventSource::start(TOTAL as u32, 400, Duration::from_micros(300)).await;
    let mut first = spawn("w1", &vh, &source);
    {
        let w = &mut first;
        let tail = w.tail();
        wait_until(
            "1200 events handled",
            Duration::from_secs(60),
            || tail.clone(),
            async || handled(w).len() >= 1200,
        )
        .await;
    }
    first.signal("KILL");
    let _ = first.wait_exit(Duration::from_secs(10)).await;
    let before = handled(&mut first);
    let last_before = *before.iter().max().unwrap();
    let requests_before = source.connections();
    let mut second = spawn("w2", &vh, &source);
    let expected: BTreeSet<u64> = (1..=TOTAL).filter(|n| !POISON.contains(n)).collect();
    {
        let (w, before) = (&mut second, &before);
        let tail = w.tail();
        let expected = &expected;
        wait_until(
            "every event handled",
            Duration::from_secs(90),
            || tail.clone(),
            async || {
                let all: BTreeSet<u64> = before.iter().copied().chain(handled(w)).collect();
                all == *expected
            },
        )
        .await;
    }
    wait_until(
        "the poison dead-lettered",
        Duration::from_secs(30),
        String::new,
        async || vh.ready("ticks.dead").await as usize == POISON.len(),
    )
    .await;
    let metrics = second
        .get("/metrics")
        .await
        .map(|(_, body)| body)
        .unwrap_or_default();
    second.stop(Duration::from_secs(30)).await;
    let dropped = metrics
        .lines()
        .find(|l| l.starts_with("worker_messages_total{") && l.contains("action=\"dropped\""))
        .unwrap_or_else(|| panic!("no dropped counter in {metrics}"));
    assert!(dropped.ends_with(" 0"), "{dropped}");
    let resumed_from: u64 = source.last_ids.lock().unwrap()[requests_before]
        .as_deref()
        .expect("the restarted worker sends the stored resume point")
        .parse()
        .unwrap();
    let after = handled(&mut second);
    let repeated = after.iter().filter(|n| before.contains(n)).count();
    println!(
        "[sse] worker SIGKILLed after handling {} events (up to {last_before}); the restart resumed after event {resumed_from}: {repeated} events handled twice, 0 missing",
        before.len()
    );
    assert!(
        resumed_from <= last_before,
        "the stored point is a settled event"
    );
    assert_eq!(
        after.iter().min(),
        Some(&(resumed_from + 1)),
        "the restart continues right after the stored point"
    );
    assert!(
        repeated <= 40,
        "at most a batch or two repeated: {repeated}"
    );
    let mut dead = ids(&vh.drain("ticks.dead").await);
    dead.sort();
    assert_eq!(dead, POISON);
    vh.delete();
}

/// `check` probes each sse route's stream: a closed port fails it, a live
/// stream passes; with RabbitMQ and with the embedded broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_on_a_closed_sse_stream() {
    for broker in [worker_testkit::amqp_url(), "memory://".to_owned()] {
        check_on(&broker).await;
    }
}

async fn check_on(broker: &str) {
    let broker = broker.to_owned();
    let check = move |url: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sse-worker"))
            .arg("check")
            .env("WORKER_AMQP_URL", &broker)
            .env("WORKER_SSE_TICKS_URL", url)
            .env("WORKER_LOG", "error")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let closed = format!("http://{}/events", worker_testkit::free_local_addr());
    let (code, out) = check(&closed);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.lines().any(
            |l| l.starts_with("error: sse route `ticks`: stream `http://127.0.0.1:")
                && l.contains("cannot connect")
        ),
        "{out}"
    );
    let source = EventSource::start(10, 10, Duration::ZERO).await;
    let (code, out) = tokio::task::spawn_blocking(move || check(&source.url))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ok: sse route `ticks`: stream `http://127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("answers 200 text/event-stream"), "{out}");
}
