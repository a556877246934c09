//! The [`Broker`] trait that the batching consumer is generic over, and
//! what brokers deliver ([`Delivery`]).
//!
//! RabbitMQ (`worker-rabbitmq`) and the embedded broker ([`crate::memory`])
//! implement it, so both run exactly the same consumer, batching and
//! settlement code; the conformance suite (`crate::conformance`, feature
//! `conformance`) holds both to the same behaviour.

mod delivery;
mod publish;
mod record;
mod settle;
mod version;

use std::future::Future;
use std::time::Duration;

pub use bytes::Bytes;
pub use delivery::{AmqpValue, Delivery, Headers, Properties, AMQP_FRAME_MAX, MAX_HEADER_DEPTH};
pub(crate) use delivery::{
    DEATH_REASON_HEADER, DELIVERY_COUNT_HEADER, ORIGINAL_QUEUE_HEADER, RETRY_COUNT_HEADER,
};
pub(crate) use publish::first_failure;
pub use publish::{Outgoing, PublishError};
pub use record::Record;
pub(crate) use record::{Hold, SlotLock};
pub(crate) use settle::Settle;
pub use version::BrokerVersion;

use crate::error::BrokerError;

/// A quorum queue's `x-delivery-limit`: how many times a message may be
/// returned after a failed delivery before the broker dead-letters it (or
/// drops it without a dead-letter target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryLimit {
    /// Dead-lettered after this many returns (`limit + 1` deliveries).
    Limited(u32),
    /// Never (`x-delivery-limit = -1`): lifts RabbitMQ 4.0's default of 20.
    Unlimited,
}

impl DeliveryLimit {
    /// The limit, if there is one.
    pub fn limit(self) -> Option<u32> {
        match self {
            DeliveryLimit::Limited(n) => Some(n),
            DeliveryLimit::Unlimited => None,
        }
    }

    /// The value of `x-delivery-limit`.
    pub fn argument(self) -> i64 {
        match self {
            DeliveryLimit::Limited(n) => i64::from(n),
            DeliveryLimit::Unlimited => -1,
        }
    }
}

impl std::fmt::Display for DeliveryLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryLimit::Limited(n) => write!(f, "{n}"),
            DeliveryLimit::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// How a queue is declared when a route opts into declaration, and the
/// delay queues of retries.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct QueueOptions {
    /// Survives a broker restart.
    pub durable: bool,
    /// Owned by the declaring connection (the embedded broker: channel):
    /// another one's declaration is refused (`RESOURCE_LOCKED`), and the
    /// queue is deleted when its owner goes. The lock of `singleton` cron
    /// routes.
    pub exclusive: bool,
    /// `x-queue-type = quorum` (RabbitMQ clusters).
    pub quorum: bool,
    /// `x-delivery-limit` (quorum queues): a message returned to the queue
    /// more than this many times is dead-lettered, or dropped without a
    /// dead-letter exchange, instead of requeued.
    pub delivery_limit: Option<DeliveryLimit>,
    /// `x-single-active-consumer`: one consumer of the queue gets its
    /// messages; the others stand by and the next takes over when it goes.
    pub single_active: bool,
    /// `x-max-length`: the oldest messages are dropped beyond this many.
    pub max_length: Option<u32>,
    /// `x-message-ttl`: messages expire (and are dead-lettered) after this.
    pub message_ttl: Option<Duration>,
    /// `x-dead-letter-exchange` (empty string: the default exchange).
    pub dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key`.
    pub dead_letter_routing_key: Option<String>,
}

/// How a consumer subscribes (`basic.consume` arguments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumeOptions {
    /// `x-priority`: a consumer of higher priority gets the messages while
    /// it has room; with single active consumer (RabbitMQ 4.0 and later),
    /// the active one is the consumer of highest priority.
    pub priority: Option<i32>,
    /// `x-consumer-timeout` (RabbitMQ 4.3, quorum queues): how long this
    /// consumer may hold a delivery unacked.
    pub timeout: Option<Duration>,
}

/// An existing queue as the broker reports it (`check --drift`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// `classic`, `quorum` or `stream`.
    pub queue_type: String,
    /// Its `x-...` arguments, `x-queue-type` left out.
    pub arguments: std::collections::BTreeMap<String, QueueArgument>,
}

/// The value of one `x-...` queue argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueArgument {
    /// A string (`x-queue-type`, dead-letter targets).
    Str(String),
    /// An integer (`x-delivery-limit`, `x-message-ttl` in milliseconds).
    Int(i64),
    /// A boolean (`x-single-active-consumer`).
    Bool(bool),
}

impl std::fmt::Display for QueueArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueArgument::Str(s) if s.is_empty() => f.write_str("\"\""),
            QueueArgument::Str(s) => f.write_str(s),
            QueueArgument::Int(i) => write!(f, "{i}"),
            QueueArgument::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl QueueOptions {
    /// A durable queue with no arguments: what `Publisher::declare_queue`,
    /// and a route's dead-letter queue when it is missing, declare.
    pub fn durable() -> Self {
        QueueOptions {
            durable: true,
            ..Default::default()
        }
    }

    /// Sets [`durable`](Self::durable): Survives a broker restart.
    pub fn with_durable(mut self, value: bool) -> Self {
        self.durable = value;
        self
    }

    /// Sets [`exclusive`](Self::exclusive): Owned by the declaring connection.
    pub fn with_exclusive(mut self, value: bool) -> Self {
        self.exclusive = value;
        self
    }

    /// Sets [`quorum`](Self::quorum): A quorum queue.
    pub fn with_quorum(mut self, value: bool) -> Self {
        self.quorum = value;
        self
    }

    /// Sets [`delivery_limit`](Self::delivery_limit): The `x-delivery-limit` of a quorum queue.
    pub fn with_delivery_limit(mut self, value: DeliveryLimit) -> Self {
        self.delivery_limit = Some(value);
        self
    }

    /// Sets [`single_active`](Self::single_active): `x-single-active-consumer`.
    pub fn with_single_active(mut self, value: bool) -> Self {
        self.single_active = value;
        self
    }

    /// Sets [`max_length`](Self::max_length): `x-max-length`.
    pub fn with_max_length(mut self, value: u32) -> Self {
        self.max_length = Some(value);
        self
    }

    /// Sets [`message_ttl`](Self::message_ttl): `x-message-ttl`.
    pub fn with_message_ttl(mut self, value: Duration) -> Self {
        self.message_ttl = Some(value);
        self
    }

    /// Sets [`dead_letter_exchange`](Self::dead_letter_exchange): `x-dead-letter-exchange`.
    pub fn with_dead_letter_exchange(mut self, value: impl Into<String>) -> Self {
        self.dead_letter_exchange = Some(value.into());
        self
    }

    /// Sets [`dead_letter_routing_key`](Self::dead_letter_routing_key): `x-dead-letter-routing-key`.
    pub fn with_dead_letter_routing_key(mut self, value: impl Into<String>) -> Self {
        self.dead_letter_routing_key = Some(value.into());
        self
    }

    /// The queue as the broker would report it once declared with these
    /// options.
    pub fn inspected(&self) -> Inspected {
        self.inspected_on(None)
    }

    /// [`inspected`](Self::inspected) on a broker of `version`.
    pub fn inspected_on(&self, version: Option<BrokerVersion>) -> Inspected {
        Inspected {
            queue_type: if self.quorum { "quorum" } else { "classic" }.to_owned(),
            arguments: self
                .arguments_on(version)
                .into_iter()
                .filter(|(name, _)| *name != "x-queue-type")
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        }
    }

    /// The `x-...` arguments of the declaration, by name: what RabbitMQ
    /// is sent, what `topology` prints and what drift is checked against.
    pub fn arguments(&self) -> Vec<(&'static str, QueueArgument)> {
        self.arguments_on(None)
    }

    /// [`arguments`](Self::arguments) for a broker of `version` (`None`:
    /// unknown, taken as current). Before 4.0 a quorum queue has no
    /// delivery limit unless it declares one, and RabbitMQ 3.x reads
    /// `x-delivery-limit = -1` as a limit of 0, so
    /// [`DeliveryLimit::Unlimited`] is sent as no argument there.
    pub fn arguments_on(
        &self,
        version: Option<BrokerVersion>,
    ) -> Vec<(&'static str, QueueArgument)> {
        let mut args = Vec::new();
        if self.quorum {
            args.push(("x-queue-type", QueueArgument::Str("quorum".into())));
        }
        let unlimited_by_default = version.is_some_and(|v| v.default_delivery_limit().is_none());
        match self.delivery_limit {
            Some(DeliveryLimit::Unlimited) if unlimited_by_default => {}
            Some(limit) => args.push(("x-delivery-limit", QueueArgument::Int(limit.argument()))),
            None => {}
        }
        if self.single_active {
            args.push(("x-single-active-consumer", QueueArgument::Bool(true)));
        }
        if let Some(n) = self.max_length {
            args.push(("x-max-length", QueueArgument::Int(i64::from(n))));
        }
        if let Some(ttl) = self.message_ttl {
            let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            args.push(("x-message-ttl", QueueArgument::Int(millis)));
        }
        if let Some(exchange) = &self.dead_letter_exchange {
            args.push((
                "x-dead-letter-exchange",
                QueueArgument::Str(exchange.clone()),
            ));
        }
        if let Some(key) = &self.dead_letter_routing_key {
            args.push(("x-dead-letter-routing-key", QueueArgument::Str(key.clone())));
        }
        args
    }
}

/// A connection to a broker that can open channels.
///
/// `channel` (re)establishes the underlying connection when it is down; the
/// runtime calls it again, with backoff, after any failure.
pub trait Broker: Send + Sync + 'static {
    /// A channel: the unit that owns prefetch, consumers and delivery tags.
    type Channel: Channel;

    /// Opens a channel, connecting first if needed.
    fn channel(&self) -> impl Future<Output = Result<Self::Channel, BrokerError>> + Send;

    /// The broker's address with any password masked, for logs.
    fn describe(&self) -> String;

    /// Whether the connection is currently up.
    fn is_connected(&self) -> bool;

    /// The version of the broker the connection reached (after a
    /// `channel()` call), when it is known; the embedded broker answers
    /// [`BrokerVersion::EMBEDDED`].
    fn version(&self) -> Option<BrokerVersion> {
        None
    }

    /// Closes the connection (graceful shutdown).
    fn close(&self) -> impl Future<Output = ()> + Send;

    /// The type and arguments of an existing queue, for `check --drift`:
    /// `Ok(None)` when it does not exist, `Err` with the reason when the
    /// broker cannot say (a passive declare does not return arguments:
    /// RabbitMQ answers through its management API, when configured).
    fn inspect_queue(
        &self,
        queue: &str,
    ) -> impl Future<Output = Result<Option<Inspected>, BrokerError>> + Send {
        let _ = queue;
        async {
            Err(BrokerError::new(
                crate::error::BrokerErrorKind::Unsupported,
                "this broker cannot report a queue's arguments",
            ))
        }
    }

    /// For an address that lists several nodes: each node (masked) and
    /// whether it accepts a connection, for `check`. Empty for one node.
    fn probe_nodes(&self) -> impl Future<Output = Vec<(String, Result<(), BrokerError>)>> + Send {
        async { Vec::new() }
    }
}

/// One channel. Delivery tags are scoped to it.
pub trait Channel: Send + Sync + 'static {
    /// The stream of deliveries of this channel's consumers.
    type Deliveries: Deliveries;

    /// Whether the channel and its connection are open, as far as the
    /// client knows. The runtime checks it while batches wait for a slot,
    /// so that batches in flight lose their ownership as soon as the
    /// client knows the channel is gone, not when the deliveries buffered
    /// before the failure have been read. The default: always open.
    fn is_open(&self) -> bool {
        true
    }

    /// Sets the prefetch window (`basic.qos`), before consuming.
    fn qos(&self, prefetch: u16) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Checks that a queue exists (a passive declare); `QueueNotFound` if not.
    fn check_queue(&self, queue: &str) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Declares a queue (idempotent when the options match).
    fn declare_queue(
        &self,
        queue: &str,
        options: &QueueOptions,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Starts one consumer per queue; all of them feed the returned stream.
    fn consume(
        &self,
        queues: &[&str],
        consumer_tag: &str,
    ) -> impl Future<Output = Result<Self::Deliveries, BrokerError>> + Send;

    /// [`consume`](Self::consume) with consumer arguments. The default
    /// ignores them.
    fn consume_with(
        &self,
        queues: &[&str],
        consumer_tag: &str,
        options: &ConsumeOptions,
    ) -> impl Future<Output = Result<Self::Deliveries, BrokerError>> + Send {
        let _ = options;
        self.consume(queues, consumer_tag)
    }

    /// Acks `tag`, or every unsettled tag up to it with `multiple`.
    fn ack(&self, tag: u64, multiple: bool)
        -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Rejects one delivery (`basic.reject`): a failed delivery attempt,
    /// returned to the queue with `requeue` (counted towards a quorum
    /// queue's delivery limit on every RabbitMQ version), else discarded or
    /// dead-lettered. The default is [`nack`](Self::nack).
    fn reject(
        &self,
        tag: u64,
        requeue: bool,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        self.nack(tag, false, requeue)
    }

    /// Negatively acks `tag` (or every unsettled tag up to it), returning the
    /// message(s) to the queue with `requeue` (not counted as a delivery
    /// attempt by RabbitMQ 4.3's quorum queues: the runtime returns
    /// messages it did not handle this way), else discarding or
    /// dead-lettering them.
    fn nack(
        &self,
        tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Publishes a message and waits for the broker's confirm.
    fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &Properties,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Publishes `messages` pipelined (each sent without waiting for the
    /// confirm of the one before), then waits for every confirm; the result
    /// of each, in order. After a failure that closes the channel the
    /// following messages fail too. The default publishes one at a time.
    fn publish_each(
        &self,
        messages: &[Outgoing<'_>],
    ) -> impl Future<Output = Vec<Result<(), BrokerError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(messages.len());
            for m in messages {
                results.push(
                    self.publish(m.exchange, m.routing_key, m.body, m.properties)
                        .await,
                );
            }
            results
        }
    }

    /// Whether this channel's consumer of `queue` is the one that gets its
    /// messages: on a single-active-consumer queue, `Some(false)` while it
    /// stands by. `None` when the broker cannot tell (RabbitMQ says so only
    /// through its management API) or the channel does not consume `queue`.
    fn consumer_active(&self, queue: &str) -> impl Future<Output = Option<bool>> + Send {
        let _ = queue;
        async { None }
    }

    /// Cancels this channel's consumers (`basic.cancel`): the stream ends
    /// after the deliveries already sent.
    fn cancel(&self) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Closes the channel. Unsettled deliveries return to their queues.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// The deliveries of a channel's consumers.
pub trait Deliveries: Send + 'static {
    /// The next delivery; `None` once consumers were cancelled, an error when
    /// the channel or connection was lost.
    fn next(&mut self) -> impl Future<Output = Option<Result<Delivery, BrokerError>>> + Send;
}
