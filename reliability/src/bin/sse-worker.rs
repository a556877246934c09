//! The SSE worker of the reliability suite: one `sse` route, `ticks`, at
//! least once with its dead letters and resume point on RabbitMQ. The
//! stream's URL comes from `WORKER_SSE_TICKS_URL`; every handled event is
//! logged to `FAULT_LOG` as `ticks <n>` once its batch's handler is done.
//! An event whose `n` ends in 777 always fails: bisection isolates it, and
//! after two retries it goes to `ticks.dead`. A batch holding an event
//! whose `n` ends in 500 fails twice, then succeeds (its retries).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use worker::route;
use worker::sse::Event;

#[derive(serde::Deserialize)]
struct Tick {
    n: u64,
}

fn log(text: &str) {
    static LOG: OnceLock<Mutex<Option<File>>> = OnceLock::new();
    let log = LOG.get_or_init(|| {
        Mutex::new(std::env::var_os("FAULT_LOG").map(|path| {
            File::options()
                .create(true)
                .append(true)
                .open(path)
                .expect("FAULT_LOG")
        }))
    });
    if let Some(f) = log.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        f.write_all(text.as_bytes()).expect("write FAULT_LOG");
    }
}

#[route(
    sse,
    url = "http://127.0.0.1:9/unused",
    connection = "ticks",
    bulk_size = 20,
    bulk_flush_interval = "20ms",
    bisect = true,
    max_retries = 2,
    retry_backoff = "10ms",
    dead_letter = "ticks.dead",
    resume = true
)]
async fn ticks(events: Vec<Event<Tick>>) -> Result<(), worker::Error> {
    if let Some(bad) = events.iter().find(|e| e.data.n % 1000 == 777) {
        return Err(worker::Error::msg(format!(
            "tick {} is malformed",
            bad.data.n
        )));
    }
    static FAILED: OnceLock<Mutex<HashMap<u64, u32>>> = OnceLock::new();
    if let Some(e) = events.iter().find(|e| e.data.n % 1000 == 500) {
        let mut failed = FAILED.get_or_init(Default::default).lock().unwrap();
        let n = failed.entry(e.data.n).or_insert(0);
        if *n < 2 {
            *n += 1;
            return Err(worker::Error::msg(format!(
                "the alerts service is down at tick {}",
                e.data.n
            )));
        }
    }
    // Slow enough for the test to kill the process mid-stream.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let text: String = events
        .iter()
        .map(|e| format!("ticks {}\n", e.data.n))
        .collect();
    log(&text);
    Ok(())
}

worker::main!();
