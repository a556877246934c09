//! [`Publisher`]: publishing from handlers and hooks, with confirms; and the
//! [`PublishSink`] each configured connection provides.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use tracing::Instrument;

use super::startup::{broker_missing, waited_too_long, Startup};
use crate::broker::{ExchangeKind, Properties, PublishError, QueueOptions};
use crate::error::{BrokerError, BrokerErrorKind, Error};
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

    /// Publishes every message pipelined and waits for all the confirms:
    /// the first failure, with how many messages before it were confirmed.
    fn publish_all<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        messages: Vec<(Vec<u8>, Properties)>,
    ) -> BoxFuture<'a, Result<(), PublishError>>;

    /// Declares a queue (idempotent when the options match).
    fn declare_queue<'a>(
        &'a self,
        queue: &'a str,
        options: &'a QueueOptions,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;

    /// Declares a durable exchange (idempotent for the same type). The
    /// default: unsupported.
    fn declare_exchange<'a>(
        &'a self,
        exchange: &'a str,
        kind: ExchangeKind,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        let _ = (exchange, kind);
        Box::pin(async {
            Err(BrokerError::new(
                BrokerErrorKind::Unsupported,
                "this connection cannot declare exchanges",
            ))
        })
    }
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

    /// Publishes `value` as JSON to the queue named `queue` (through the
    /// default exchange, which routes a message to the queue named by its
    /// routing key), and waits for the broker's confirm. The queue must
    /// exist: a route declares its own (`declare = true`), and a queue that
    /// only receives is declared at startup, see
    /// [`declare_queue`](Self::declare_queue).
    ///
    /// ```no_run
    /// # async fn f(publisher: worker_core::Publisher) -> Result<(), worker_core::Error> {
    /// publisher.send("order_events", &serde_json::json!({ "accepted": 42 })).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send<T: Serialize + ?Sized>(&self, queue: &str, value: &T) -> Result<(), Error> {
        self.publish("", queue, value).await
    }

    /// Publishes every item of `items` as JSON to the queue named `queue`,
    /// pipelined: all are sent, then all the confirms are awaited together
    /// (one round trip instead of one per message). See
    /// [`publish_all`](Self::publish_all).
    ///
    /// ```no_run
    /// # async fn f(publisher: worker_core::Publisher, totals: Vec<u64>) -> Result<(), worker_core::Error> {
    /// publisher.send_all("totals", &totals).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_all<I>(&self, queue: &str, items: I) -> Result<(), PublishError>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        self.publish_all("", queue, items).await
    }

    /// Publishes every item of `items` as JSON to `exchange` with
    /// `routing_key`, pipelined on the connection's publishing channel, and
    /// waits for every confirm. `Ok` when the broker confirmed them all;
    /// otherwise the first failure (a message that reached no queue, a
    /// nack, a lost channel) as a [`PublishError`], whose
    /// [`confirmed`](PublishError::confirmed) counts the items before it,
    /// all confirmed: retry from there. An item that does not serialize
    /// fails the call before anything is published.
    pub async fn publish_all<I>(
        &self,
        exchange: &str,
        routing_key: &str,
        items: I,
    ) -> Result<(), PublishError>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        let mut messages = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let body = serde_json::to_vec(&item).map_err(|e| {
                PublishError::new(
                    0,
                    i + 1,
                    format!("item {i} does not serialize as JSON, so nothing was published: {e}"),
                )
            })?;
            messages.push((body, json_properties()));
        }
        if messages.is_empty() {
            return Ok(());
        }
        let total = messages.len();
        // With tracing on: one producer span for the call, its context in
        // every message.
        let span = crate::otel::producer_span(exchange, routing_key, total);
        for (_, properties) in &mut messages {
            crate::otel::inject(&span, &mut properties.headers);
        }
        let published = self
            .sink
            .publish_all(exchange, routing_key, messages)
            .instrument(span.clone())
            .await;
        if published.is_err() {
            crate::otel::record_failure(&span, "publish");
        }
        published.map_err(|e| match e.broker_error() {
            Some(b) if b.kind == BrokerErrorKind::Unroutable => PublishError::new(
                e.confirmed(),
                total,
                declare_hint(b.clone(), exchange, routing_key),
            ),
            _ => e,
        })
    }

    /// Publishes `value` as JSON (`content_type = application/json`) to
    /// `exchange` with `routing_key`; `""` is the default exchange (see
    /// [`send`](Self::send)).
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
            .get_or_insert_with(|| JSON.to_owned());
        self.publish_raw(exchange, routing_key, body, properties)
            .await
    }

    /// Declares a durable queue (idempotent). Queues that handlers only
    /// publish to are declared in a startup hook, so they exist before any
    /// route runs:
    ///
    /// ```no_run
    /// # use worker_core::{App, Error};
    /// // #[on_startup]
    /// async fn queues(app: App) -> Result<(), Error> {
    ///     app.publisher()?.declare_queue("order_events").await
    /// }
    /// ```
    ///
    /// Routes with `declare = true` declare their own when they start.
    pub async fn declare_queue(&self, queue: &str) -> Result<(), Error> {
        self.declare_queue_with(queue, &QueueOptions::durable())
            .await
    }

    /// Declares a durable exchange of `kind` (idempotent; another type for
    /// an existing exchange is refused), for a service that publishes to
    /// an exchange its consumers bind their queues to: see
    /// [publishing](https://github.com/worker-framework/worker/blob/main/docs/publishing.md#exchanges).
    pub async fn declare_exchange(&self, exchange: &str, kind: ExchangeKind) -> Result<(), Error> {
        self.sink
            .declare_exchange(exchange, kind)
            .await
            .map_err(Error::from)
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
        mut properties: Properties,
    ) -> Result<(), Error> {
        let span = crate::otel::producer_span(exchange, routing_key, 1);
        crate::otel::inject(&span, &mut properties.headers);
        let published = self
            .sink
            .publish(exchange, routing_key, body, properties)
            .instrument(span.clone())
            .await;
        if published.is_err() {
            crate::otel::record_failure(&span, "publish");
        }
        published.map_err(|e| Error::from(declare_hint(e, exchange, routing_key)))
    }
}

const JSON: &str = "application/json";

/// The properties of a JSON message.
fn json_properties() -> Properties {
    Properties {
        content_type: Some(JSON.to_owned()),
        ..Properties::default()
    }
}

/// A message published to the default exchange that reached no queue: the
/// error says where to declare the queue.
fn declare_hint(mut e: BrokerError, exchange: &str, routing_key: &str) -> BrokerError {
    if e.kind == BrokerErrorKind::Unroutable && exchange.is_empty() {
        e.message.push_str(&format!(
            "; declare it at startup (`app.publisher()?.declare_queue(\"{routing_key}\")` in an `#[on_startup]` hook)"
        ));
    }
    e
}

/// `sink`, whose operations wait for a missing broker during startup.
pub(super) fn waiting_at_startup(
    sink: Arc<dyn PublishSink>,
    startup: Arc<Startup>,
) -> Arc<dyn PublishSink> {
    Arc::new(Waiting { sink, startup })
}

/// A sink whose operations wait for the broker during startup.
struct Waiting {
    sink: Arc<dyn PublishSink>,
    startup: Arc<Startup>,
}

impl PublishSink for Waiting {
    fn publish<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        body: Vec<u8>,
        properties: Properties,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.startup.retry(
            move || {
                self.sink
                    .publish(exchange, routing_key, body.clone(), properties.clone())
            },
            broker_missing,
            waited_too_long,
        ))
    }

    fn publish_all<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        messages: Vec<(Vec<u8>, Properties)>,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        // Only a call that published nothing is tried again (no duplicates).
        let lost =
            |e: &PublishError| e.confirmed() == 0 && e.broker_error().is_some_and(broker_missing);
        Box::pin(self.startup.retry(
            move || {
                self.sink
                    .publish_all(exchange, routing_key, messages.clone())
            },
            lost,
            |e, _| e,
        ))
    }

    fn declare_queue<'a>(
        &'a self,
        queue: &'a str,
        options: &'a QueueOptions,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.startup.retry(
            move || self.sink.declare_queue(queue, options),
            broker_missing,
            waited_too_long,
        ))
    }

    fn declare_exchange<'a>(
        &'a self,
        exchange: &'a str,
        kind: ExchangeKind,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(self.startup.retry(
            move || self.sink.declare_exchange(exchange, kind),
            broker_missing,
            waited_too_long,
        ))
    }
}
