//! Queues as routes declare them: [`QueueOptions`] and their `x-...`
//! arguments, [`DeliveryLimit`], consumer arguments ([`ConsumeOptions`]),
//! and a queue as the broker reports it ([`Inspected`]).

use std::time::Duration;

use super::BrokerVersion;

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
    /// Deleted when its last consumer goes (a queue that never had one
    /// stays). The queues of `broadcast` routes, with `exclusive`.
    pub auto_delete: bool,
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
    /// `x-max-priority` (classic queues): messages are delivered by
    /// priority, highest first, their priorities above this counting as
    /// this; without it a classic queue ignores priorities. (A quorum
    /// queue orders by priority without the argument, and RabbitMQ
    /// refuses it there.)
    pub max_priority: Option<u8>,
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

    /// Sets [`auto_delete`](Self::auto_delete): deleted with its last consumer.
    pub fn with_auto_delete(mut self, value: bool) -> Self {
        self.auto_delete = value;
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

    /// Sets [`max_priority`](Self::max_priority): `x-max-priority`.
    pub fn with_max_priority(mut self, value: u8) -> Self {
        self.max_priority = Some(value);
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
        if let Some(n) = self.max_priority {
            args.push(("x-max-priority", QueueArgument::Int(i64::from(n))));
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
