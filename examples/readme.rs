//! The README's 30-second example, as it is there (`tests/readme.rs`
//! checks that every Rust snippet of the documentation is part of a
//! compiled file).
//!
//! ```sh
//! cargo run --example readme     # embedded broker; Ctrl-C stops it
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

use worker::{on_startup, route, App, Message, State};

#[derive(serde::Deserialize, Debug)]
struct Item {
    id: u64,
    name: String,
}

/// Items seen so far, shared by the routes.
#[derive(Default)]
struct Seen(AtomicUsize);

#[route(amqp, queues = ["items"], bulk_size = 500, bulk_flush_interval = "1s",
        on_success = ack, on_exception = requeue, declare = true)]
async fn check(msgs: Vec<Message<Item>>, State(seen): State<Seen>) -> Result<(), worker::Error> {
    for m in &msgs {
        if m.body().id == 0 {
            println!("rejecting {}", m.body().name);
            m.reject(); // a per-message decision wins over the policy
        }
    }
    seen.0.fetch_add(msgs.len(), Ordering::Relaxed);
    Ok(())
}

#[route(every, interval = "30s")]
async fn report(State(seen): State<Seen>) {
    println!("{} items so far", seen.0.load(Ordering::Relaxed));
}

#[on_startup]
async fn init(app: App) -> Result<(), worker::Error> {
    app.insert(Seen::default());
    Ok(())
}

worker::main!(amqp = "memory://"); // WORKER_AMQP_URL overrides it
