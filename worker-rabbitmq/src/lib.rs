//! RabbitMQ backend of the `worker` framework, on [lapin].
//!
//! [`RabbitBroker`] implements [`worker_core::broker::Broker`]: one lazily
//! established AMQP connection per broker value, shared by all of its
//! channels; every channel has publisher confirms enabled. The runtime owns
//! reconnection: when the connection is lost, consumers' streams yield an
//! error, and the next [`Broker::channel`](worker_core::broker::Broker::channel)
//! call connects again.
//!
//! ```no_run
//! use worker_core::broker::{Broker, Channel};
//! use worker_rabbitmq::{RabbitBroker, RabbitOptions};
//!
//! # async fn demo() -> Result<(), worker_core::error::BrokerError> {
//! let broker = RabbitBroker::new(
//!     "amqp://guest:guest@localhost:5672/%2f",
//!     RabbitOptions::named("my-worker"),
//! )?;
//! let channel = broker.channel().await?;
//! channel.qos(128).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod broker;
mod channel;
mod connector;
mod deliveries;
mod errors;
mod headers;
mod management;
mod nodes;
mod options;
mod properties;
mod uri;
mod version;

pub use broker::RabbitBroker;
pub use channel::RabbitChannel;
pub use connector::RabbitConnector;
pub use deliveries::RabbitDeliveries;
pub use options::RabbitOptions;
