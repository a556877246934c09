//! A worker with one `broadcast` route (a queue per process on the fanout
//! exchange `config`): the reliability suite runs several of them and
//! checks that each handles every event (`FAULT_LOG`, as `fault-worker`).

use serde::Deserialize;
use worker::{route, Message};
use worker_reliability::history::{unix_micros, Recorder};

#[derive(Debug, Deserialize)]
struct Event {
    id: u64,
}

/// Every process's own queue, bound to `config`, declared with it.
#[route(amqp, queues = ["config_events"], exchange = "config", exchange_type = fanout,
        broadcast = true, declare = true, bulk_size = 50, bulk_flush_interval = "100ms")]
async fn config_events(msgs: Vec<Message<Event>>) {
    let start = unix_micros();
    Recorder::call("config_events", start, msgs.iter().map(|m| m.body().id));
}

worker::main!();
