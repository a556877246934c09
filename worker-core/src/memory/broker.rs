//! [`MemoryBroker`]: the embedded broker's handle, its public API (topology,
//! publishing, inspection, fault injection) and its [`Broker`] impl.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use super::channel::MemoryChannel;
use super::queue::Payload;
use super::queue::{QueueStats, StoredMessage};
use super::state::{Inner, State};
use crate::broker::{Binding, Broker, Bytes, ExchangeKind, Properties, QueueOptions};
use crate::error::BrokerError;

/// The embedded in-memory broker. Cheap to clone: clones share one broker.
///
/// [`MemoryBroker::new`] makes a private broker (tests);
/// [`MemoryBroker::shared`] returns the process-wide broker of a `memory://`
/// URL, so every connection to the same URL in one process sees the same
/// queues.
#[derive(Clone)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBroker")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

/// The process-wide brokers, by URL.
fn shared_brokers() -> &'static Mutex<HashMap<String, MemoryBroker>> {
    static BROKERS: OnceLock<Mutex<HashMap<String, MemoryBroker>>> = OnceLock::new();
    BROKERS.get_or_init(Default::default)
}

impl MemoryBroker {
    /// A new, private broker.
    pub fn new() -> Self {
        Self::with_url("memory://")
    }

    fn with_url(url: &str) -> Self {
        MemoryBroker {
            inner: Inner::new(url),
        }
    }

    /// The process-wide broker for `url` (keyed by the whole URL:
    /// `memory://` and `memory://other` are distinct brokers).
    pub fn shared(url: &str) -> Self {
        let mut brokers = shared_brokers()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        brokers
            .entry(url.to_owned())
            .or_insert_with(|| Self::with_url(url))
            .clone()
    }

    /// The URL this broker was created for.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Whether `other` is a handle to the same broker.
    pub fn same_broker(&self, other: &MemoryBroker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    /// Declares a queue; idempotent when the options match, `Refused` when
    /// the queue exists with other options.
    pub fn declare_queue(&self, name: &str, options: QueueOptions) -> Result<(), BrokerError> {
        self.lock().declare_queue(name, &options)
    }

    /// Deletes a queue with its ready messages and bindings; returns whether
    /// it existed. Its consumers' streams yield a `QueueNotFound` error (and
    /// end unless they consume other queues); its unacked messages are
    /// dropped with it (acking them still succeeds).
    pub fn delete_queue(&self, name: &str) -> bool {
        self.lock().delete_queue(name)
    }

    /// Whether a queue exists.
    pub fn queue_exists(&self, name: &str) -> bool {
        self.lock().queues.contains_key(name)
    }

    /// Removes the ready messages of a queue, returning how many.
    pub fn purge(&self, name: &str) -> Result<u64, BrokerError> {
        self.lock().purge(name)
    }

    /// Takes the ready messages out of a queue, oldest first (what a test
    /// reads of what its handlers published); `QueueNotFound` if the queue
    /// does not exist. Messages delivered and not yet settled stay.
    pub fn take(&self, name: &str) -> Result<Vec<StoredMessage>, BrokerError> {
        let taken = self.lock().take(name)?;
        Ok(taken
            .into_iter()
            .map(|m| StoredMessage {
                exchange: m.payload.exchange.clone(),
                routing_key: m.payload.routing_key.clone(),
                redelivered: m.redelivered,
                properties: m.payload.properties.clone(),
                body: m.payload.body.to_vec(),
            })
            .collect())
    }

    /// Declares an exchange; idempotent for the same kind, `Refused` for
    /// another kind, the default exchange (`""`) or a new `amq.` name.
    /// `amq.direct`, `amq.fanout`, `amq.topic`, `amq.headers` and
    /// `amq.match` exist from the start.
    pub fn declare_exchange(&self, name: &str, kind: ExchangeKind) -> Result<(), BrokerError> {
        self.lock().declare_exchange(name, kind)
    }

    /// The kind of exchange `name`, if it exists.
    pub fn exchange_kind(&self, name: &str) -> Option<ExchangeKind> {
        self.lock().check_exchange(name).ok()
    }

    /// Binds `queue` to `exchange` with `routing_key` (a pattern for topic
    /// exchanges; ignored by fanout ones).
    pub fn bind(&self, queue: &str, exchange: &str, routing_key: &str) -> Result<(), BrokerError> {
        self.lock().bind(queue, Binding::new(exchange, routing_key))
    }

    /// Binds `queue` with `binding` (its arguments: a headers exchange's
    /// match).
    pub fn bind_with(&self, queue: &str, binding: Binding) -> Result<(), BrokerError> {
        self.lock().bind(queue, binding)
    }

    /// The bindings of `queue` to named exchanges, by exchange name.
    pub fn bindings(&self, queue: &str) -> Vec<Binding> {
        self.lock()
            .bindings_of(queue)
            .into_iter()
            .map(|(_, b)| b)
            .collect()
    }

    /// Publishes a message, as a channel's `publish` does. A message that
    /// reaches no queue is `Unroutable` (and not stored); a missing exchange
    /// is `Refused`.
    pub fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: impl Into<Vec<u8>>,
        properties: Properties,
    ) -> Result<(), BrokerError> {
        self.lock().publish(Payload {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
            properties,
            body: Bytes::from(body.into()),
        })
    }

    /// Bounds every queue at `max` ready messages (`None`: unbounded, the
    /// default): a publish to a full queue fails with a `NotConfirmed`
    /// error, as RabbitMQ's `x-overflow = reject-publish` nacks it, and
    /// nothing is enqueued anywhere. Messages the broker moves itself
    /// (dead-lettering, expiry, requeues) are never refused, so none is
    /// lost to the bound.
    pub fn set_max_length(&self, max: Option<u64>) {
        self.lock().max_length = max;
    }

    /// Every queue of every process-wide broker ([`MemoryBroker::shared`]):
    /// the broker's URL, the queue, its ready and its unacked messages,
    /// for the queue-depth gauge.
    pub fn shared_depths() -> Vec<(String, String, u64, u64)> {
        let mut brokers: Vec<MemoryBroker> = shared_brokers()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        brokers.sort_by(|a, b| a.url().cmp(b.url()));
        brokers
            .iter()
            .flat_map(|b| {
                let url = b.url().to_owned();
                b.lock()
                    .depths()
                    .into_iter()
                    .map(move |(q, ready, unacked)| (url.clone(), q, ready, unacked))
            })
            .collect()
    }

    /// Counters and current sizes of a queue, `None` if it does not exist.
    pub fn stats(&self, queue: &str) -> Option<QueueStats> {
        self.lock().stats(queue)
    }

    /// Deliveries not yet settled, over all channels.
    pub fn total_unacked(&self) -> u64 {
        self.lock().total_unacked()
    }

    /// Ready messages, over all queues.
    pub fn total_ready(&self) -> u64 {
        self.lock().total_ready()
    }

    /// Ready messages waiting in queues with a message TTL (delay queues of
    /// retries): work that will come back later.
    pub fn pending_delayed(&self) -> u64 {
        self.lock().pending_delayed()
    }

    /// Open channels.
    pub fn open_channels(&self) -> u64 {
        self.lock().channels.len() as u64
    }

    /// Fault injection: the connection drops. Every open channel closes
    /// abruptly: its streams yield a `Connection` error then end, its
    /// unacked messages return to the head of their queues (in order,
    /// `redelivered = true`), and further operations on it fail with that
    /// error. The next [`Broker::channel`] call reconnects.
    pub fn drop_connections(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.connected = false;
        state.close_all(Some(BrokerError::connection(
            "connection to the embedded broker dropped (injected fault)",
        )));
    }

    /// Fault injection: the next `n` [`Broker::channel`] calls fail with a
    /// `Connection` error.
    pub fn set_fail_connect(&self, n: u32) {
        self.lock().fail_connect = n;
    }

    /// How many times the connection was (re)established since the broker
    /// was created: bumped by every [`drop_connections`](Self::drop_connections).
    pub fn connection_generation(&self) -> u64 {
        self.lock().generation
    }
}

impl Broker for MemoryBroker {
    type Channel = MemoryChannel;

    async fn inspect_queue(
        &self,
        queue: &str,
    ) -> Result<Option<crate::broker::Inspected>, BrokerError> {
        Ok(self.lock().queues.get(queue).map(|q| q.options.inspected()))
    }

    async fn inspect_exchange(&self, exchange: &str) -> Result<Option<String>, BrokerError> {
        Ok(self.exchange_kind(exchange).map(|k| k.name().to_owned()))
    }

    async fn inspect_bindings(&self, queue: &str) -> Result<Vec<Binding>, BrokerError> {
        Ok(self.bindings(queue))
    }

    async fn channel(&self) -> Result<MemoryChannel, BrokerError> {
        let (id, shared) = {
            let mut state = self.lock();
            if state.fail_connect > 0 {
                state.fail_connect -= 1;
                state.connected = false;
                return Err(BrokerError::connection(format!(
                    "cannot connect to `{}` (injected fault)",
                    self.inner.url
                )));
            }
            state.connected = true;
            state.open_channel()
        };
        Ok(MemoryChannel::new(self.inner.clone(), id, shared))
    }

    fn describe(&self) -> String {
        self.inner.url.clone()
    }

    fn is_connected(&self) -> bool {
        self.lock().connected
    }

    fn version(&self) -> Option<crate::broker::BrokerVersion> {
        Some(crate::broker::BrokerVersion::EMBEDDED)
    }

    /// Closes every channel gracefully (streams end, unacked messages
    /// return to their queues). Queues and messages stay: a later
    /// `channel()` reconnects.
    async fn close(&self) {
        let mut state = self.lock();
        state.close_all(None);
        state.connected = false;
    }
}
