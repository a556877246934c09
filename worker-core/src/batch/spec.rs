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

/// The queue of this process of a `broadcast` route: exclusive and
/// auto-delete, declared on every (re)connection and bound with the
/// route's bindings, so that every running process gets every message the
/// exchange routes to them.
#[derive(Debug, Clone)]
pub struct Broadcast {
    /// The route's queue name, which its deliveries carry.
    pub label: std::sync::Arc<str>,
    /// This process's queue: `<queue>.<host>.<pid>.<nonce>`.
    pub queue: String,
    /// Whether the route declares its exchange (`declare = true`).
    pub declare_exchange: bool,
}

impl Broadcast {
    /// The broadcast queue of this process for the route's queue `base`.
    pub fn for_queue(base: &str, declare_exchange: bool) -> Self {
        Broadcast {
            label: base.into(),
            queue: process_queue(base),
            declare_exchange,
        }
    }
}

/// `<base>.<host>.<pid>.<nonce>`: unique among the processes of a
/// cluster and readable in the management UI (which host, which process);
/// the nonce tells apart the processes of two runs with one pid. At most
/// 255 bytes, the base cut if needed.
fn process_queue(base: &str) -> String {
    static NONCE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let nonce = *NONCE.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.finish() as u32
    });
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let host = if host.is_empty() {
        "host".to_owned()
    } else {
        host
    };
    let suffix = format!(".{host}.{}.{nonce:08x}", std::process::id());
    let mut keep = base.len().min(255 - suffix.len());
    while !base.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &base[..keep])
}

impl ConsumerSpec {
    /// The queues the consumer subscribes to.
    pub(crate) fn consumed_queues(&self) -> Vec<&str> {
        match &self.broadcast {
            Some(b) => vec![b.queue.as_str()],
            None => self.queues.to_vec(),
        }
    }
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
    /// `broadcast = true`: the process consumes a queue of its own
    /// instead of `queues`.
    pub broadcast: Option<Broadcast>,
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
        broadcast: None,
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
