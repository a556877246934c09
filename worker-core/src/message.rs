//! Deliveries from a broker, and the typed [`Message`] a handler receives.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::action::Action;

/// A header value, the subset of AMQP field values that survive a round trip
/// through both brokers.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    /// A UTF-8 string.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A floating point number.
    Float(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list of values.
    Array(Vec<HeaderValue>),
    /// A nested table.
    Table(Headers),
}

impl HeaderValue {
    /// The value as an integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            HeaderValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for HeaderValue {
    fn from(s: &str) -> Self {
        HeaderValue::Str(s.to_owned())
    }
}
impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        HeaderValue::Str(s)
    }
}
impl From<i64> for HeaderValue {
    fn from(i: i64) -> Self {
        HeaderValue::Int(i)
    }
}
impl From<bool> for HeaderValue {
    fn from(b: bool) -> Self {
        HeaderValue::Bool(b)
    }
}

/// Message headers, ordered by name.
pub type Headers = BTreeMap<String, HeaderValue>;

/// The header in which the runtime counts retry attempts.
pub const RETRY_COUNT_HEADER: &str = "x-retry-count";
/// The header naming the queue a retried or dead-lettered message came from.
pub const ORIGINAL_QUEUE_HEADER: &str = "x-original-queue";
/// The header saying why the runtime dead-lettered a message.
pub const DEATH_REASON_HEADER: &str = "x-death-reason";

/// Message properties that the runtime reads and writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties {
    /// Application headers.
    pub headers: Headers,
    /// MIME type of the body, e.g. `application/json`.
    pub content_type: Option<String>,
    /// Application message id.
    pub message_id: Option<String>,
    /// Correlation id for request/reply.
    pub correlation_id: Option<String>,
    /// Reply-to queue.
    pub reply_to: Option<String>,
    /// Per-message TTL in milliseconds, as AMQP's `expiration`.
    pub expiration: Option<String>,
    /// 2 for persistent, 1 for transient.
    pub delivery_mode: Option<u8>,
    /// Priority 0..=9.
    pub priority: Option<u8>,
}

/// One message as it came off a broker channel, before decoding.
#[derive(Clone)]
pub struct Delivery {
    /// The channel-scoped delivery tag.
    pub tag: u64,
    /// The queue it was consumed from.
    pub queue: Arc<str>,
    /// The exchange it was published to (empty for the default exchange).
    pub exchange: String,
    /// The routing key it was published with.
    pub routing_key: String,
    /// Whether the broker delivered it before.
    pub redelivered: bool,
    /// Properties and headers.
    pub properties: Properties,
    /// The raw body.
    pub body: Vec<u8>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("tag", &self.tag)
            .field("queue", &self.queue)
            .field("routing_key", &self.routing_key)
            .field("redelivered", &self.redelivered)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Delivery {
    /// The retry attempt count carried in [`RETRY_COUNT_HEADER`], 0 when absent.
    pub fn retry_count(&self) -> u32 {
        self.properties
            .headers
            .get(RETRY_COUNT_HEADER)
            .and_then(HeaderValue::as_int)
            .map(|n| n.clamp(0, u32::MAX as i64) as u32)
            .unwrap_or(0)
    }
}

// Decision states stored per message of a batch.
const UNDECIDED: u8 = 0;
const ACK: u8 = 1;
const REJECT: u8 = 2;
const REQUEUE: u8 = 3;
const DECODE_FAILED: u8 = 4;

fn encode(action: Action) -> u8 {
    match action {
        Action::Ack => ACK,
        Action::Reject => REJECT,
        Action::Requeue => REQUEUE,
    }
}

/// What the handler (or the decoder) said about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No per-message decision: the route's policy applies.
    Undecided,
    /// An explicit `ack()`, `reject()` or `requeue()`.
    Decided(Action),
    /// The body did not decode; the route's `on_decode_error` applies.
    DecodeFailed,
}

/// State shared between a batch's messages and the engine that settles them.
pub(crate) struct BatchShared {
    pub(crate) route: &'static str,
    pub(crate) deliveries: Vec<Delivery>,
    decisions: Vec<AtomicU8>,
    sealed: AtomicBool,
}

impl BatchShared {
    pub(crate) fn verdict(&self, index: usize) -> Verdict {
        match self.decisions[index].load(Ordering::Acquire) {
            ACK => Verdict::Decided(Action::Ack),
            REJECT => Verdict::Decided(Action::Reject),
            REQUEUE => Verdict::Decided(Action::Requeue),
            DECODE_FAILED => Verdict::DecodeFailed,
            _ => Verdict::Undecided,
        }
    }

    /// After this, decisions are ignored with a warning.
    pub(crate) fn seal(&self) {
        self.sealed.store(true, Ordering::Release);
    }

    /// Whether the handler has finished with this batch.
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    fn decide(&self, index: usize, action: Action) {
        if self.sealed.load(Ordering::Acquire) {
            tracing::warn!(
                route = self.route,
                delivery_tag = self.deliveries[index].tag,
                action = action.name(),
                "decision made after the handler returned is ignored"
            );
            return;
        }
        let slot = &self.decisions[index];
        // A decode failure is final; otherwise the last decision wins.
        let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            (cur != DECODE_FAILED).then_some(encode(action))
        });
    }
}

/// A batch of raw deliveries handed to a route's adapter, which decodes it
/// into the handler's first argument.
pub struct Batch {
    pub(crate) shared: Arc<BatchShared>,
}

impl Batch {
    /// Builds a batch for `route` from deliveries.
    pub fn new(route: &'static str, deliveries: Vec<Delivery>) -> Self {
        let decisions = deliveries
            .iter()
            .map(|_| AtomicU8::new(UNDECIDED))
            .collect();
        Batch {
            shared: Arc::new(BatchShared {
                route,
                deliveries,
                decisions,
                sealed: AtomicBool::new(false),
            }),
        }
    }

    /// Number of deliveries in the batch.
    pub fn len(&self) -> usize {
        self.shared.deliveries.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.shared.deliveries.is_empty()
    }

    /// The raw deliveries.
    pub fn deliveries(&self) -> &[Delivery] {
        &self.shared.deliveries
    }

    /// Decodes every body as JSON into `T`. Bodies that fail to decode are
    /// left out, logged with the reason, and settled by the route's
    /// `on_decode_error` policy.
    pub fn decode<T: DeserializeOwned>(&self) -> Vec<Message<T>> {
        let mut out = Vec::with_capacity(self.len());
        for (index, d) in self.shared.deliveries.iter().enumerate() {
            match serde_json::from_slice::<T>(&d.body) {
                Ok(body) => out.push(Message {
                    body,
                    shared: self.shared.clone(),
                    index,
                }),
                Err(e) => {
                    tracing::warn!(
                        route = self.shared.route,
                        queue = &*d.queue,
                        delivery_tag = d.tag,
                        body_len = d.body.len(),
                        error = %e,
                        "message body does not decode; applying on_decode_error"
                    );
                    self.shared.decisions[index].store(DECODE_FAILED, Ordering::Release);
                }
            }
        }
        out
    }
}

/// One message of a batch, with its decoded body.
///
/// The per-message decisions [`ack`](Message::ack), [`reject`](Message::reject)
/// and [`requeue`](Message::requeue) win over the route's `on_success` and
/// `on_exception` policies. They share state with the batch, so they work even
/// if the message was moved elsewhere; a decision made after the handler
/// returned is ignored with a warning.
pub struct Message<T = serde_json::Value> {
    body: T,
    shared: Arc<BatchShared>,
    index: usize,
}

impl<T> Message<T> {
    fn delivery(&self) -> &Delivery {
        &self.shared.deliveries[self.index]
    }

    /// The decoded body.
    pub fn body(&self) -> &T {
        &self.body
    }

    /// Takes the decoded body out (after which no decision can be made on
    /// this message: the route's policy applies).
    pub fn into_body(self) -> T {
        self.body
    }

    /// The raw body bytes.
    pub fn raw(&self) -> &[u8] {
        &self.delivery().body
    }

    /// The queue the message was consumed from.
    pub fn queue(&self) -> &str {
        &self.delivery().queue
    }

    /// The routing key it was published with.
    pub fn routing_key(&self) -> &str {
        &self.delivery().routing_key
    }

    /// The exchange it was published to (empty for the default exchange).
    pub fn exchange(&self) -> &str {
        &self.delivery().exchange
    }

    /// Application headers.
    pub fn headers(&self) -> &Headers {
        &self.delivery().properties.headers
    }

    /// All properties.
    pub fn properties(&self) -> &Properties {
        &self.delivery().properties
    }

    /// Whether the broker delivered this message before.
    pub fn redelivered(&self) -> bool {
        self.delivery().redelivered
    }

    /// How many times the runtime retried this message (0 on the first attempt).
    pub fn retry_count(&self) -> u32 {
        self.delivery().retry_count()
    }

    /// The broker's delivery tag.
    pub fn delivery_tag(&self) -> u64 {
        self.delivery().tag
    }

    /// Ack this message whatever the handler's outcome.
    pub fn ack(&self) {
        self.shared.decide(self.index, Action::Ack);
    }

    /// Reject (discard or dead-letter) this message whatever the handler's outcome.
    pub fn reject(&self) {
        self.shared.decide(self.index, Action::Reject);
    }

    /// Requeue this message whatever the handler's outcome.
    pub fn requeue(&self) {
        self.shared.decide(self.index, Action::Requeue);
    }
}

impl<T: fmt::Debug> fmt::Debug for Message<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("body", &self.body)
            .field("queue", &self.queue())
            .field("delivery_tag", &self.delivery_tag())
            .field("redelivered", &self.redelivered())
            .finish()
    }
}
