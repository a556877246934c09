//! [`Publisher`]: publishing from handlers and hooks, with confirms; and the
//! [`PublishSink`] each configured connection provides.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::broker::{Properties, QueueOptions};
use crate::error::{BrokerError, Error};
use crate::future::BoxFuture;

/// Something that publishes to a broker connection (implemented by the runtime
/// for each configured connection).
pub trait PublishSink: Send + Sync + 'static {
    /// Publishes one message and waits for the broker's confirm.
    fn publish<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        body: Vec<u8>,
        properties: Properties,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;

    /// Declares a queue (idempotent when the options match).
    fn declare_queue<'a>(
        &'a self,
        queue: &'a str,
        options: &'a QueueOptions,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;
}

/// Publishes messages on a broker connection, waiting for confirms.
///
/// Publishes are `mandatory`: a message that reaches no queue is an error
/// (`BrokerErrorKind::Unroutable`), never a silent drop. Declare the queue
/// first ([`Publisher::declare_queue`]) when it may not exist yet.
#[derive(Clone)]
pub struct Publisher {
    sink: Arc<dyn PublishSink>,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Builds a publisher from a sink.
    pub fn new(sink: Arc<dyn PublishSink>) -> Self {
        Publisher { sink }
    }

    /// Publishes `value` as JSON (`content_type = application/json`).
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        exchange: &str,
        routing_key: &str,
        value: &T,
    ) -> Result<(), Error> {
        self.publish_with(exchange, routing_key, value, Properties::default())
            .await
    }

    /// Publishes `value` as JSON with properties and headers.
    pub async fn publish_with<T: Serialize + ?Sized>(
        &self,
        exchange: &str,
        routing_key: &str,
        value: &T,
        mut properties: Properties,
    ) -> Result<(), Error> {
        let body = serde_json::to_vec(value)?;
        properties
            .content_type
            .get_or_insert_with(|| "application/json".to_owned());
        self.publish_raw(exchange, routing_key, body, properties)
            .await
    }

    /// Declares a durable queue, e.g. before publishing to it from a startup
    /// hook (routes with `declare = true` declare theirs when they start).
    pub async fn declare_queue(&self, queue: &str) -> Result<(), Error> {
        self.declare_queue_with(queue, &QueueOptions::durable())
            .await
    }

    /// Declares a queue with explicit options.
    pub async fn declare_queue_with(
        &self,
        queue: &str,
        options: &QueueOptions,
    ) -> Result<(), Error> {
        self.sink
            .declare_queue(queue, options)
            .await
            .map_err(Error::from)
    }

    /// Publishes raw bytes (possibly empty) with properties.
    pub async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: Vec<u8>,
        properties: Properties,
    ) -> Result<(), Error> {
        self.sink
            .publish(exchange, routing_key, body, properties)
            .await
            .map_err(Error::from)
    }
}
