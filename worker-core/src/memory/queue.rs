//! A queue of the embedded broker: its ready messages, consumers, options,
//! counters ([`QueueStats`]) and expiry timer; and the messages it stores.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::broker::{Bytes, Properties, QueueOptions};

/// What happened in one queue of a [`MemoryBroker`](super::MemoryBroker),
/// as returned by [`MemoryBroker::stats`](super::MemoryBroker::stats).
///
/// `ready`, `unacked` and `consumers` are the current state; the other
/// fields count events since the queue was declared. Every count of the
/// framework is a `u64`.
/// Messages returned to the queue because their channel closed or its
/// connection dropped are not counted as nacks (they only count again in
/// `delivered` when redelivered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Messages waiting to be delivered.
    pub ready: u64,
    /// Messages delivered and not yet settled.
    pub unacked: u64,
    /// Consumers currently registered on the queue.
    pub consumers: u64,
    /// Messages that entered the queue by any route, dead-lettering included.
    pub published: u64,
    /// Deliveries made, redeliveries included.
    pub delivered: u64,
    /// Messages acked.
    pub acked: u64,
    /// Messages nacked with `requeue = true`.
    pub nacked_requeued: u64,
    /// Messages nacked or rejected without requeue (dead-lettered or dropped).
    pub rejected: u64,
    /// Messages that left this queue to its dead-letter exchange (rejected or
    /// expired).
    pub dead_lettered: u64,
    /// Messages whose TTL ran out in this queue.
    pub expired: u64,
}

/// A message taken out of a queue ([`MemoryBroker::take`](super::MemoryBroker::take)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredMessage {
    /// The exchange it was published to (empty for the default exchange).
    pub exchange: String,
    /// The routing key it was published with.
    pub routing_key: String,
    /// Whether it had been delivered before and returned to the queue.
    pub redelivered: bool,
    /// Its properties and headers.
    pub properties: Properties,
    /// Its body.
    pub body: Vec<u8>,
}

/// The immutable part of a message, shared by the queues it was routed to.
#[derive(Clone)]
pub(super) struct Payload {
    pub(super) exchange: String,
    pub(super) routing_key: String,
    pub(super) properties: Properties,
    /// Shared with every delivery of the message.
    pub(super) body: Bytes,
}

/// A message sitting in a queue or in a channel's unacked map.
#[derive(Clone)]
pub(super) struct Stored {
    pub(super) payload: Arc<Payload>,
    pub(super) redelivered: bool,
    /// Times a quorum queue got it back after a delivery: its
    /// `x-delivery-count` (classic queues do not count).
    pub(super) returned: u32,
    pub(super) expires_at: Option<Instant>,
}

/// One consumer registered on a queue: a channel and one of its streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ConsumerRef {
    pub(super) channel: u64,
    pub(super) sink: u64,
    /// `x-priority` (default 0).
    pub(super) priority: i32,
}

/// The top priority of a quorum queue: RabbitMQ 4.3 orders quorum queues
/// by message priority in 32 levels, priorities above 31 counting as 31.
const QUORUM_TOP_PRIORITY: u8 = 31;
/// The priority of a message without one in a quorum queue (AMQP's
/// default, measured on 4.3.6: between 3 and 9).
const QUORUM_DEFAULT_PRIORITY: u8 = 4;

/// How a queue with priorities ranks its messages.
#[derive(Clone, Copy)]
struct Levels {
    /// Priorities above it count as it.
    top: u8,
    /// The level of a message without a priority.
    unset: u8,
}

impl Levels {
    fn of(self, msg: &Stored) -> u8 {
        msg.payload
            .properties
            .priority
            .unwrap_or(self.unset)
            .min(self.top)
    }
}

/// Wakes the expiry task of a queue; `alive` says whether one runs.
pub(super) struct ExpiryTimer {
    pub(super) notify: Notify,
    pub(super) alive: AtomicBool,
}

pub(super) struct Queue {
    pub(super) name: Arc<str>,
    /// Distinguishes a queue from a later one with the same name.
    pub(super) id: u64,
    pub(super) options: QueueOptions,
    /// In delivery order: FIFO, by priority level first where the queue
    /// has levels ([`push_ready`](Self::push_ready)).
    pub(super) ready: VecDeque<Stored>,
    /// By priority, highest first; in registration order among equals.
    pub(super) consumers: Vec<ConsumerRef>,
    pub(super) cursor: usize,
    /// Single active consumer: the consumer that last got messages. A
    /// consumer of higher priority takes over once this one holds no
    /// unacked message of the queue (RabbitMQ 4.0's hand-over).
    pub(super) active: Option<ConsumerRef>,
    pub(super) stats: QueueStats,
    pub(super) timer: Arc<ExpiryTimer>,
    /// The channel that owns an exclusive queue.
    pub(super) owner: Option<u64>,
    /// Whether a consumer ever registered (an auto-delete queue goes with
    /// its last one).
    pub(super) had_consumer: bool,
}

impl Queue {
    pub(super) fn new(name: Arc<str>, id: u64, options: QueueOptions) -> Self {
        Queue {
            name,
            id,
            options,
            ready: VecDeque::new(),
            consumers: Vec::new(),
            cursor: 0,
            active: None,
            stats: QueueStats::default(),
            timer: Arc::new(ExpiryTimer {
                notify: Notify::new(),
                alive: AtomicBool::new(false),
            }),
            owner: None,
            had_consumer: false,
        }
    }

    /// The highest priority level of the queue's messages and the level
    /// of a message without a priority: a classic queue's
    /// `x-max-priority` and 0; 31 and 4 for a quorum queue (RabbitMQ
    /// 4.3's 32 levels, and AMQP's default priority); `None` for a classic
    /// queue that ignores priorities.
    fn levels(&self) -> Option<Levels> {
        if self.options.quorum {
            Some(Levels {
                top: QUORUM_TOP_PRIORITY,
                unset: QUORUM_DEFAULT_PRIORITY,
            })
        } else {
            self.options
                .max_priority
                .map(|top| Levels { top, unset: 0 })
        }
    }

    /// Adds a newly published message: last of its priority level (last of
    /// all without priorities).
    pub(super) fn push_ready(&mut self, msg: Stored) {
        match self.levels() {
            Some(l) if self.ready.back().is_some_and(|b| l.of(b) < l.of(&msg)) => {
                let level = l.of(&msg);
                let at = self.ready.partition_point(|m| l.of(m) >= level);
                self.ready.insert(at, msg);
            }
            _ => self.ready.push_back(msg),
        }
    }

    /// Returns a delivered message: first of its priority level (first of
    /// all without priorities), where it was taken from.
    pub(super) fn return_ready(&mut self, msg: Stored) {
        match self.levels() {
            Some(l) => {
                let level = l.of(&msg);
                let at = self.ready.partition_point(|m| l.of(m) > level);
                self.ready.insert(at, msg);
            }
            None => self.ready.push_front(msg),
        }
    }

    pub(super) fn head_deadline(&self) -> Option<Instant> {
        self.ready.front().and_then(|m| m.expires_at)
    }

    /// Registers a consumer after those of its priority or higher.
    pub(super) fn add_consumer(&mut self, consumer: ConsumerRef) {
        let at = self
            .consumers
            .iter()
            .position(|c| c.priority < consumer.priority)
            .unwrap_or(self.consumers.len());
        self.consumers.insert(at, consumer);
        self.had_consumer = true;
    }

    /// The single active consumer now: the one that has been active while
    /// it is registered, else the first.
    pub(super) fn active_consumer(&self) -> Option<ConsumerRef> {
        self.active
            .filter(|a| self.consumers.contains(a))
            .or_else(|| self.consumers.first().copied())
    }

    pub(super) fn remove_consumers(&mut self, keep: impl Fn(&ConsumerRef) -> bool) {
        self.consumers.retain(keep);
        if self.cursor >= self.consumers.len() {
            self.cursor = 0;
        }
    }

    /// An auto-delete queue whose last consumer went: the broker deletes it.
    pub(super) fn unused(&self) -> bool {
        self.options.auto_delete && self.had_consumer && self.consumers.is_empty()
    }

    pub(super) fn dead_letter_target(&self) -> Option<(String, Option<String>)> {
        let exchange = self.options.dead_letter_exchange.clone()?;
        Some((exchange, self.options.dead_letter_routing_key.clone()))
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // Lets the expiry task notice the queue is gone and exit.
        self.timer.notify.notify_one();
    }
}
