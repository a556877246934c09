//! The reliability suite of worker: `src/bin/fault-worker.rs` is a worker
//! written with the DSL, and `tests/` runs it as separate processes against
//! a real RabbitMQ while injecting faults (broker restart, killed
//! connections, SIGTERM/SIGKILL, poison messages, failing handlers, missing
//! and deleted queues, competing workers, a 1M-message soak, malformed HTTP
//! input, network partitions and silent cuts), then judges what happened
//! with the [`history`] checker. See `docs/reliability.md`.

#![warn(missing_docs)]

pub mod history;
