//! Runtime of the `worker` framework.
//!
//! Users depend on the `worker` facade crate; this crate holds the behaviour
//! behind it: the route registry, [`App`] and its typed state, the batching
//! engine and settlement logic (generic over [`Broker`]), the embedded broker
//! ([`memory`]), recurring tasks, configuration, lifecycle and the testing
//! harness.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod action;
pub mod app;
pub mod backoff;
pub mod broker;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod conformance;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod every;
pub mod extract;
#[cfg(feature = "http")]
pub mod http_extract;
pub mod memory;
pub mod message;
pub mod metrics;
pub mod registry;
pub mod runtime;
pub mod settle;
mod settler;
pub mod stats;
mod task;
pub mod telemetry;
pub mod testing;
pub mod validate;

pub use action::Action;
pub use app::{App, PublishSink, Publisher, State};
pub use broker::{Broker, Channel, Deliveries, QueueOptions};
pub use error::{BrokerError, BrokerErrorKind, Error};
pub use message::{Batch, Delivery, HeaderValue, Headers, Message, Properties};
pub use settler::{delay_queue_name, retry_delay, DEFAULT_RETRY_BACKOFF};
