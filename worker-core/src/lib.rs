//! Runtime of the `worker` framework.
//!
//! Users depend on the `worker` facade crate; this crate holds the behaviour
//! behind it: the route registry, [`App`] and its typed state, the batching
//! engine and settlement logic (generic over [`Broker`]), the embedded broker
//! ([`memory`]), recurring tasks, configuration, lifecycle and the testing
//! harness.

#![warn(missing_docs)]

pub mod action;
pub mod app;
pub mod broker;
pub mod config;
pub mod error;
pub mod extract;
pub mod message;
pub mod registry;

pub use action::Action;
pub use app::{App, PublishSink, Publisher, State};
pub use broker::{Broker, Channel, Deliveries, QueueOptions};
pub use error::{BrokerError, BrokerErrorKind, Error};
pub use message::{Batch, Delivery, HeaderValue, Headers, Message, Properties};
