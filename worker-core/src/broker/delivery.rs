//! What a broker delivers: the raw [`Delivery`], its [`Properties`] and
//! [`Headers`], and the header names the runtime reads and writes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// A header value, the subset of AMQP field values that survive a round trip
/// through both brokers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AmqpValue {
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
    Array(Vec<AmqpValue>),
    /// A nested table.
    Table(Headers),
}

impl AmqpValue {
    /// The value as an integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            AmqpValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AmqpValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for AmqpValue {
    fn from(s: &str) -> Self {
        AmqpValue::Str(s.to_owned())
    }
}
impl From<String> for AmqpValue {
    fn from(s: String) -> Self {
        AmqpValue::Str(s)
    }
}
impl From<i64> for AmqpValue {
    fn from(i: i64) -> Self {
        AmqpValue::Int(i)
    }
}
impl From<bool> for AmqpValue {
    fn from(b: bool) -> Self {
        AmqpValue::Bool(b)
    }
}

/// Message headers, ordered by name.
pub type Headers = BTreeMap<String, AmqpValue>;

/// The header in which the runtime counts retry attempts.
pub(crate) const RETRY_COUNT_HEADER: &str = "x-retry-count";
/// The header in which a quorum queue counts a message's earlier
/// deliveries: absent on the first, then 1, 2, ... (RabbitMQ, and the
/// embedded broker's quorum queues).
pub(crate) const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";
/// The header naming the queue a retried or dead-lettered message came from.
pub(crate) const ORIGINAL_QUEUE_HEADER: &str = "x-original-queue";
/// The header saying why the runtime dead-lettered a message.
pub(crate) const DEATH_REASON_HEADER: &str = "x-death-reason";

/// Message properties that the runtime reads and writes.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
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

impl Properties {
    /// Sets [`headers`](Self::headers): Application headers.
    pub fn with_headers(mut self, value: Headers) -> Self {
        self.headers = value;
        self
    }

    /// Sets [`content_type`](Self::content_type): `content-type`.
    pub fn with_content_type(mut self, value: impl Into<String>) -> Self {
        self.content_type = Some(value.into());
        self
    }

    /// Sets [`message_id`](Self::message_id): `message-id`.
    pub fn with_message_id(mut self, value: impl Into<String>) -> Self {
        self.message_id = Some(value.into());
        self
    }

    /// Sets [`correlation_id`](Self::correlation_id): `correlation-id`.
    pub fn with_correlation_id(mut self, value: impl Into<String>) -> Self {
        self.correlation_id = Some(value.into());
        self
    }

    /// Sets [`reply_to`](Self::reply_to): `reply-to`.
    pub fn with_reply_to(mut self, value: impl Into<String>) -> Self {
        self.reply_to = Some(value.into());
        self
    }

    /// Sets [`expiration`](Self::expiration): `expiration`, in milliseconds.
    pub fn with_expiration(mut self, value: impl Into<String>) -> Self {
        self.expiration = Some(value.into());
        self
    }

    /// Sets [`delivery_mode`](Self::delivery_mode): 2 for persistent, 1 for transient.
    pub fn with_delivery_mode(mut self, value: u8) -> Self {
        self.delivery_mode = Some(value);
        self
    }

    /// Sets [`priority`](Self::priority): Priority 0..=9.
    pub fn with_priority(mut self, value: u8) -> Self {
        self.priority = Some(value);
        self
    }
}

/// One message as it came off a broker channel, before decoding.
#[derive(Clone)]
#[non_exhaustive]
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
    /// The raw body. [`Bytes`]: cloning a delivery, or republishing its
    /// body, shares it instead of copying it.
    pub body: Bytes,
    /// Why the backend could not read the message faithfully, `None` for
    /// every well-formed one: for example headers nested deeper than
    /// [`MAX_HEADER_DEPTH`]. The runtime settles such a delivery by the
    /// route's `on_decode_error` policy (rejected, or dead-lettered with
    /// `dead_letter`), logs why, and no handler decodes it.
    pub defect: Option<String>,
}

impl Delivery {
    /// A delivery of `body` under `tag` from `queue`, with no exchange,
    /// routing key or properties (a backend sets the fields it reads).
    pub fn new(tag: u64, queue: Arc<str>, body: Bytes) -> Self {
        Delivery {
            tag,
            queue,
            exchange: String::new(),
            routing_key: String::new(),
            redelivered: false,
            properties: Properties::default(),
            body,
            defect: None,
        }
    }
}

/// How deep header values may nest (tables and arrays inside each other).
/// A message whose headers nest deeper is a [`Delivery::defect`]: no
/// legitimate producer needs more, and converting deeper values would let
/// one message exhaust a thread's stack.
pub const MAX_HEADER_DEPTH: usize = 64;

/// The largest AMQP frame the worker accepts, in bytes: the `frame_max`
/// it proposes to RabbitMQ (RabbitMQ's own default). A URL may ask for
/// less with `?frame_max=`, never more; the stack of the process's
/// threads is sized from it.
pub const AMQP_FRAME_MAX: u32 = 131_072;

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("tag", &self.tag)
            .field("queue", &self.queue)
            .field("routing_key", &self.routing_key)
            .field("redelivered", &self.redelivered)
            .field("body_len", &self.body.len())
            .field("defect", &self.defect)
            .finish()
    }
}

impl Delivery {
    /// Which delivery of the message this is, 1 for the first: from the
    /// broker's `DELIVERY_COUNT_HEADER` (quorum queues) plus one, or 1
    /// when the broker never delivered it before. `None` when it was
    /// delivered before without a count (classic queues).
    pub fn delivery_count(&self) -> Option<u32> {
        match self
            .properties
            .headers
            .get(DELIVERY_COUNT_HEADER)
            .and_then(AmqpValue::as_int)
        {
            Some(n) => Some(n.clamp(0, i64::from(u32::MAX - 1)) as u32 + 1),
            None if !self.redelivered => Some(1),
            None => None,
        }
    }

    /// The retry attempt count carried in `RETRY_COUNT_HEADER`, 0 when absent.
    pub fn retry_count(&self) -> u32 {
        self.properties
            .headers
            .get(RETRY_COUNT_HEADER)
            .and_then(AmqpValue::as_int)
            .map(|n| n.clamp(0, u32::MAX as i64) as u32)
            .unwrap_or(0)
    }
}
