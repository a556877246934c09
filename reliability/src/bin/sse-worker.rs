//! The SSE worker of the reliability suite: one `sse` route, `ticks`, at
//! least once with its dead letters and resume point on RabbitMQ. The
//! stream's URL comes from `WORKER_SSE_TICKS_URL`; every call that handled
//! its batch is recorded in `FAULT_LOG` (`worker_reliability::history`, the
//! events' `n` as ids) once the handler is done.
//! An event whose `n` ends in 777 always fails: bisection isolates it, and
//! after two retries it goes to `ticks.dead`. A batch holding an event
//! whose `n` ends in 500 fails twice, then succeeds (its retries).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use worker::route;
use worker::sse::Event;
use worker_reliability::history::{unix_micros, Recorder};

#[derive(serde::Deserialize)]
struct Tick {
    n: u64,
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
    let start = unix_micros();
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
    Recorder::call("ticks", start, events.iter().map(|e| e.data.n));
    Ok(())
}

worker::main!();
