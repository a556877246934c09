//! [`ConsumerSpec`]: everything one consumer needs, resolved once from its
//! route record and the configuration (by the runtime), so the consumer
//! never looks at raw options.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::BatchHandlerFn;
use crate::app::App;
use crate::broker::{Binding, ExchangeKind, QueueOptions};
use crate::metrics::RouteStats;
use crate::settlement::Policy;

/// How deliveries become batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Messages per batch: `min(bulk_size, prefetch)`, at least 1.
    pub bulk_size: usize,
    /// Flush deadline of a partial batch, from its first message.
    pub bulk_flush_interval: Duration,
    /// Batches in flight at once, at least 1.
    pub max_concurrency: usize,
}

/// Reconnect delays: capped exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// First delay.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

/// The resolved consumer of one `amqp` route.
pub struct ConsumerSpec {
    /// The route's name.
    pub route: &'static str,
    /// The queues it consumes, into one batch stream.
    pub queues: &'static [&'static str],
    /// The generated adapter.
    pub handler: BatchHandlerFn,
    /// Batch size, flush deadline, concurrency.
    pub batching: Batching,
    /// Prefetch window of the channel.
    pub prefetch: u16,
    /// `Some`: declare each queue with these options; `None`: only check
    /// that they exist.
    pub declare: Option<QueueOptions>,
    /// The exchange the queues are bound to, and its type: declared with
    /// `declare` (unless it is one of the broker's own, `amq.*`), else
    /// checked.
    pub exchange: Option<(&'static str, ExchangeKind)>,
    /// The bindings each queue gets, with `declare`.
    pub bindings: Vec<Binding>,
    /// How messages are settled.
    pub policy: Policy,
    /// Longest a handler run may take; past it the run is cancelled and
    /// counts as a failure.
    pub timeout: Option<Duration>,
    /// Bisect failed batches to find the failing messages.
    pub bisect: bool,
    /// The consumer's `x-priority`.
    pub consumer_priority: Option<i32>,
    /// The longest a message can stay unacked (`None`: unbounded, without
    /// a `timeout`): the consumer's own `x-consumer-timeout`, with a
    /// margin, where the broker takes one (RabbitMQ 4.3).
    pub longest_unacked: Option<Duration>,
    /// Time in-flight batches get at shutdown.
    pub shutdown_timeout: Duration,
    /// Reconnect delays.
    pub reconnect: Reconnect,
    /// The application.
    pub app: App,
    /// The route's counters.
    pub stats: Arc<RouteStats>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for ConsumerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerSpec")
            .field("route", &self.route)
            .field("queues", &self.queues)
            .field("batching", &self.batching)
            .field("prefetch", &self.prefetch)
            .field("declare", &self.declare)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A consumer of `queues` with the defaults, for unit tests.
#[cfg(test)]
pub(crate) fn test_spec(route: &'static str, queues: &'static [&'static str]) -> ConsumerSpec {
    fn handler(
        _: super::Batch,
        _: App,
    ) -> crate::future::BoxFuture<'static, Result<(), crate::error::Error>> {
        Box::pin(async { Ok(()) })
    }
    ConsumerSpec {
        route,
        queues,
        handler,
        batching: Batching {
            bulk_size: 1,
            bulk_flush_interval: Duration::from_secs(1),
            max_concurrency: 1,
        },
        prefetch: 1,
        declare: None,
        exchange: None,
        bindings: Vec::new(),
        policy: Policy {
            on_success: crate::settlement::Action::Ack,
            on_exception: crate::settlement::Action::Requeue,
            on_decode_error: crate::settlement::Action::Reject,
            retries: None,
            dead_letter: None,
        },
        timeout: None,
        bisect: false,
        consumer_priority: None,
        longest_unacked: None,
        shutdown_timeout: Duration::from_secs(1),
        reconnect: Reconnect {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(100),
        },
        app: App::new(),
        stats: Arc::new(RouteStats::default()),
        shutdown: CancellationToken::new(),
    }
}
