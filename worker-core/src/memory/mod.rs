//! The embedded in-memory broker (`memory://`).
//!
//! [`MemoryBroker`] implements [`Broker`](crate::broker::Broker) with the AMQP 0-9-1 semantics the
//! runtime relies on, as RabbitMQ implements them:
//!
//! - queues (FIFO, idempotent declare, `PRECONDITION_FAILED`-like `Refused`
//!   error when redeclared with other options), the default exchange
//!   (routing key = queue name; unroutable messages are dropped) and direct,
//!   fanout, topic and headers exchanges with bindings;
//! - message priorities: a classic queue with `x-max-priority` and every
//!   quorum queue (RabbitMQ 4.3: levels 0 to 31, no priority counting as
//!   4) deliver by priority, highest first, FIFO within a priority;
//! - per-channel delivery tags starting at 1, a per-channel prefetch window
//!   ([`Channel::qos`](crate::broker::Channel::qos), 0 = unlimited), round-robin between consumers;
//! - ack / multiple-ack (tag 0 with `multiple` = everything outstanding),
//!   nack with requeue (back to the head, `redelivered = true`) or without
//!   (dead-lettered with an `x-death` record when the queue has a
//!   dead-letter exchange, else dropped); an unknown delivery tag closes the
//!   channel as RabbitMQ does;
//! - per-queue message TTL and per-message `expiration`, expired at the head
//!   of the queue by a timer task (it follows tokio's paused clock) and
//!   dead-lettered with reason `expired`: delay queues for retries work;
//! - consumer cancel, channel close (unacked messages are redelivered), and
//!   fault injection: [`MemoryBroker::drop_connections`] and
//!   [`MemoryBroker::set_fail_connect`].
//!
//! Every operation runs synchronously under one mutex and dispatches before
//! it returns; deliveries are pushed into an unbounded channel per consumer
//! stream. No task runs per message.
//!
//! The public types mirror the files of `worker-rabbitmq`: [`MemoryBroker`]
//! (`broker.rs`), [`MemoryChannel`] (`channel.rs`), [`MemoryDeliveries`]
//! (`deliveries.rs`); its connector is `runtime/embedded.rs`. Behind them,
//! the engine: `state.rs` (the state behind the mutex: topology and
//! publishing), `queue.rs`, `exchange.rs` and `routing.rs` (exchanges, bindings and
//! the queues a publish goes to), `dispatch.rs` (ready messages
//! into prefetch windows), `consuming.rs` and `channel_state.rs` (channels,
//! consumers, unacked deliveries, settling), `dead_letter.rs` (`x-death`
//! records), `expiry.rs` (TTL timers) and `shared.rs` (what a channel's
//! handle, its stream and the engine share).
//!
//! ```
//! use worker_core::backend::broker::{Broker, Channel, Deliveries, Properties, QueueOptions};
//! use worker_core::backend::memory::MemoryBroker;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let broker = MemoryBroker::new();
//! broker.declare_queue("items", QueueOptions::default()).unwrap();
//! broker.publish("", "items", b"{\"id\":1}".to_vec(), Properties::default()).unwrap();
//!
//! let channel = broker.channel().await.unwrap();
//! let mut deliveries = channel.consume(&["items"], "example").await.unwrap();
//! let delivery = deliveries.next().await.unwrap().unwrap();
//! channel.ack(delivery.tag, false).await.unwrap();
//! assert_eq!(broker.stats("items").unwrap().acked, 1);
//! # });
//! ```

mod broker;
mod channel;
mod channel_state;
mod consuming;
mod dead_letter;
mod deliveries;
mod dispatch;
mod exchange;
mod expiry;
mod hash;
mod queue;
mod routing;
mod shared;
mod state;
#[cfg(test)]
mod tests;

pub use broker::MemoryBroker;
pub use queue::{QueueStats, StoredMessage};
