//! The broker's state behind one mutex: queues, exchanges, bindings and open
//! channels, and the dispatch that moves ready messages into consumers'
//! prefetch windows. Every operation runs synchronously under the lock and
//! dispatches before returning; no task runs per message.

use std::collections::{HashMap, VecDeque};
use std::mem;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::death::{self, Death, DeathReason};
use super::exchange::{Exchange, ExchangeKind};
use super::expiry;
use super::session::{ChannelState, Unacked};
use super::stats::QueueStats;
use super::Inner;
use crate::broker::QueueOptions;
use crate::error::{BrokerError, BrokerErrorKind};
use crate::message::Properties;

/// The immutable part of a message, shared by the queues it was routed to.
#[derive(Clone)]
pub(super) struct Payload {
    pub(super) exchange: String,
    pub(super) routing_key: String,
    pub(super) properties: Properties,
    pub(super) body: Vec<u8>,
}

/// A message sitting in a queue or in a channel's unacked map.
#[derive(Clone)]
pub(super) struct Stored {
    pub(super) payload: Arc<Payload>,
    pub(super) redelivered: bool,
    pub(super) expires_at: Option<Instant>,
}

/// One consumer registered on a queue: a channel and one of its streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ConsumerRef {
    pub(super) channel: u64,
    pub(super) sink: u64,
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
    pub(super) ready: VecDeque<Stored>,
    pub(super) consumers: Vec<ConsumerRef>,
    cursor: usize,
    pub(super) stats: QueueStats,
    pub(super) timer: Arc<ExpiryTimer>,
}

impl Queue {
    fn new(name: Arc<str>, id: u64, options: QueueOptions) -> Self {
        Queue {
            name,
            id,
            options,
            ready: VecDeque::new(),
            consumers: Vec::new(),
            cursor: 0,
            stats: QueueStats::default(),
            timer: Arc::new(ExpiryTimer {
                notify: Notify::new(),
                alive: AtomicBool::new(false),
            }),
        }
    }

    pub(super) fn head_deadline(&self) -> Option<Instant> {
        self.ready.front().and_then(|m| m.expires_at)
    }

    pub(super) fn remove_consumers(&mut self, keep: impl Fn(&ConsumerRef) -> bool) {
        self.consumers.retain(keep);
        if self.cursor >= self.consumers.len() {
            self.cursor = 0;
        }
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

/// How deliveries are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settle {
    Ack,
    Requeue,
    Reject,
}

pub(super) struct State {
    pub(super) queues: HashMap<Arc<str>, Queue>,
    exchanges: HashMap<String, Exchange>,
    pub(super) channels: HashMap<u64, ChannelState>,
    next_id: u64,
    /// Queues whose ready messages or consumers changed: dispatch them.
    pub(super) dirty: Vec<Arc<str>>,
    pub(super) connected: bool,
    pub(super) generation: u64,
    pub(super) fail_connect: u32,
    me: Weak<Inner>,
}

pub(super) fn refused(message: String) -> BrokerError {
    BrokerError::new(BrokerErrorKind::Refused, message)
}

fn parse_expiration(properties: &Properties) -> Option<Duration> {
    let ms: u64 = properties.expiration.as_deref()?.trim().parse().ok()?;
    Some(Duration::from_millis(ms))
}

impl State {
    pub(super) fn new(me: Weak<Inner>) -> Self {
        let exchanges = [
            ("amq.direct", ExchangeKind::Direct),
            ("amq.fanout", ExchangeKind::Fanout),
            ("amq.topic", ExchangeKind::Topic),
        ]
        .into_iter()
        .map(|(name, kind)| (name.to_owned(), Exchange::new(kind)))
        .collect();
        State {
            queues: HashMap::new(),
            exchanges,
            channels: HashMap::new(),
            next_id: 0,
            dirty: Vec::new(),
            connected: true,
            generation: 0,
            fail_connect: 0,
            me,
        }
    }

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    // ---- topology -------------------------------------------------------

    pub(super) fn declare_queue(
        &mut self,
        name: &str,
        options: &QueueOptions,
    ) -> Result<(), BrokerError> {
        if name.is_empty() {
            return Err(refused(
                "the embedded broker does not name queues: declare a queue with a non-empty name"
                    .into(),
            ));
        }
        if let Some(q) = self.queues.get(name) {
            if q.options == *options {
                return Ok(());
            }
            return Err(refused(format!(
                "PRECONDITION_FAILED - queue `{name}` already exists with different options \
                 (existing {:?}, requested {options:?})",
                q.options
            )));
        }
        let id = self.next_id();
        let name: Arc<str> = name.into();
        self.queues
            .insert(name.clone(), Queue::new(name, id, options.clone()));
        Ok(())
    }

    /// Deletes a queue with its ready messages and bindings. Its consumers'
    /// streams get a `QueueNotFound` error; a stream left with no queue ends.
    pub(super) fn delete_queue(&mut self, name: &str) -> bool {
        let Some(queue) = self.queues.remove(name) else {
            return false;
        };
        for exchange in self.exchanges.values_mut() {
            exchange.unbind_queue(name);
        }
        let gone = BrokerError::new(
            BrokerErrorKind::QueueNotFound,
            format!("queue `{name}` was deleted"),
        );
        for c in &queue.consumers {
            if let Some(channel) = self.channels.get_mut(&c.channel) {
                channel.queue_deleted(c.sink, name, &gone);
            }
        }
        true
    }

    pub(super) fn purge(&mut self, name: &str) -> Result<usize, BrokerError> {
        let q = self
            .queues
            .get_mut(name)
            .ok_or_else(|| BrokerError::queue_not_found(name))?;
        Ok(mem::take(&mut q.ready).len())
    }

    pub(super) fn declare_exchange(
        &mut self,
        name: &str,
        kind: ExchangeKind,
    ) -> Result<(), BrokerError> {
        if name.is_empty() {
            return Err(refused(
                "ACCESS_REFUSED - the default exchange cannot be declared".into(),
            ));
        }
        match self.exchanges.get(name) {
            Some(e) if e.kind == kind => Ok(()),
            Some(e) => Err(refused(format!(
                "PRECONDITION_FAILED - exchange `{name}` already exists as {:?}, not {kind:?}",
                e.kind
            ))),
            None => {
                self.exchanges.insert(name.to_owned(), Exchange::new(kind));
                Ok(())
            }
        }
    }

    pub(super) fn bind(
        &mut self,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> Result<(), BrokerError> {
        let queue = self
            .queues
            .get_key_value(queue)
            .map(|(k, _)| k.clone())
            .ok_or_else(|| BrokerError::queue_not_found(queue))?;
        if exchange.is_empty() {
            return Err(refused(
                "ACCESS_REFUSED - queues cannot be bound to the default exchange".into(),
            ));
        }
        let ex = self
            .exchanges
            .get_mut(exchange)
            .ok_or_else(|| refused(format!("NOT_FOUND - no exchange `{exchange}`")))?;
        ex.bind(queue, key);
        Ok(())
    }

    pub(super) fn stats(&self, name: &str) -> Option<QueueStats> {
        let q = self.queues.get(name)?;
        let unacked = self
            .channels
            .values()
            .map(|c| c.unacked_in(q.id))
            .sum::<usize>();
        Some(QueueStats {
            ready: q.ready.len(),
            unacked,
            consumers: q.consumers.len(),
            ..q.stats
        })
    }

    pub(super) fn total_unacked(&self) -> usize {
        self.channels.values().map(ChannelState::unacked_len).sum()
    }

    pub(super) fn total_ready(&self) -> usize {
        self.queues.values().map(|q| q.ready.len()).sum()
    }

    pub(super) fn pending_delayed(&self) -> usize {
        self.queues
            .values()
            .filter(|q| q.options.message_ttl.is_some())
            .map(|q| q.ready.len())
            .sum()
    }

    // ---- publishing and routing -----------------------------------------

    fn targets(&self, exchange: &str, routing_key: &str) -> Result<Vec<Arc<str>>, BrokerError> {
        if exchange.is_empty() {
            // The default exchange: the routing key names the queue; a
            // missing queue makes the message unroutable.
            return Ok(self
                .queues
                .get_key_value(routing_key)
                .map(|(name, _)| vec![name.clone()])
                .unwrap_or_default());
        }
        let ex = self
            .exchanges
            .get(exchange)
            .ok_or_else(|| refused(format!("NOT_FOUND - no exchange `{exchange}`")))?;
        let mut out = Vec::new();
        ex.route_into(routing_key, &mut out);
        Ok(out)
    }

    pub(super) fn publish(&mut self, payload: Payload) -> Result<(), BrokerError> {
        let targets = self.targets(&payload.exchange, &payload.routing_key)?;
        if targets.is_empty() {
            return Err(BrokerError::unroutable(
                &payload.exchange,
                &payload.routing_key,
            ));
        }
        self.enqueue_all(&targets, Arc::new(payload));
        self.dispatch_dirty();
        Ok(())
    }

    fn enqueue_all(&mut self, targets: &[Arc<str>], payload: Arc<Payload>) {
        let per_message = parse_expiration(&payload.properties);
        for target in targets {
            let msg = Stored {
                payload: payload.clone(),
                redelivered: false,
                expires_at: None,
            };
            self.enqueue(target, msg, per_message);
        }
    }

    fn enqueue(&mut self, name: &str, mut msg: Stored, per_message: Option<Duration>) {
        let State {
            queues, dirty, me, ..
        } = self;
        let Some(q) = queues.get_mut(name) else {
            return;
        };
        let ttl = match (q.options.message_ttl, per_message) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        msg.expires_at = ttl.map(|ttl| Instant::now() + ttl);
        q.stats.published += 1;
        q.ready.push_back(msg);
        if ttl.is_some() {
            expiry::ensure_timer(q, me, q.ready.len() == 1);
        }
        dirty.push(q.name.clone());
    }

    /// Returns a delivered message to the head of its queue (if the queue
    /// still exists), marked redelivered.
    pub(super) fn requeue(&mut self, unacked: Unacked, counted: bool) {
        let State {
            queues, dirty, me, ..
        } = self;
        let Some(q) = queues
            .get_mut(&*unacked.queue)
            .filter(|q| q.id == unacked.queue_id)
        else {
            return;
        };
        if counted {
            q.stats.nacked_requeued += 1;
        }
        let mut msg = unacked.msg;
        msg.redelivered = true;
        let has_deadline = msg.expires_at.is_some();
        q.ready.push_front(msg);
        if has_deadline {
            expiry::ensure_timer(q, me, true);
        }
        dirty.push(q.name.clone());
    }

    pub(super) fn dead_letter(
        &mut self,
        from: &str,
        target: &(String, Option<String>),
        msg: Stored,
        reason: DeathReason,
    ) {
        let (exchange, routing_key) = target;
        let Payload {
            exchange: old_exchange,
            routing_key: old_key,
            mut properties,
            body,
        } = Arc::unwrap_or_clone(msg.payload);
        let original_expiration = properties.expiration.take();
        death::record(
            &mut properties.headers,
            Death {
                queue: from,
                reason,
                exchange: &old_exchange,
                routing_key: &old_key,
                original_expiration,
            },
        );
        let routing_key = routing_key.clone().unwrap_or(old_key);
        // A missing dead-letter exchange drops the message, as RabbitMQ does.
        let Ok(mut targets) = self.targets(exchange, &routing_key) else {
            return;
        };
        if reason != DeathReason::Rejected {
            targets.retain(|t| !death::is_cycle(&properties.headers, t));
        }
        let payload = Arc::new(Payload {
            exchange: exchange.clone(),
            routing_key,
            properties,
            body,
        });
        self.enqueue_all(&targets, payload);
    }

    // ---- dispatch ---------------------------------------------------------

    /// Dispatches every queue marked dirty until nothing changes.
    pub(super) fn dispatch_dirty(&mut self) {
        while let Some(name) = self.dirty.pop() {
            loop {
                self.expire_due(&name);
                if !self.dispatch(&name) {
                    break;
                }
            }
        }
    }

    /// Expires (dead-letters or drops) the messages at the head of `name`
    /// whose deadline passed.
    pub(super) fn expire_due(&mut self, name: &str) {
        let Some(q) = self.queues.get_mut(name) else {
            return;
        };
        if q.head_deadline().is_none() {
            return;
        }
        let now = Instant::now();
        let mut expired = Vec::new();
        while q.head_deadline().is_some_and(|d| d <= now) {
            expired.extend(q.ready.pop_front());
        }
        if expired.is_empty() {
            return;
        }
        q.stats.expired += expired.len() as u64;
        self.dirty.push(q.name.clone());
        let Some(target) = q.dead_letter_target() else {
            return;
        };
        q.stats.dead_lettered += expired.len() as u64;
        let from = q.name.clone();
        for msg in expired {
            self.dead_letter(&from, &target, msg, DeathReason::Expired);
        }
    }

    /// Delivers ready messages of `name` round-robin to consumers whose
    /// channel has room. Returns true when it stopped at an expired head.
    fn dispatch(&mut self, name: &str) -> bool {
        let State {
            queues, channels, ..
        } = self;
        let Some(q) = queues.get_mut(name) else {
            return false;
        };
        let mut now = None;
        while let Some(head) = q.ready.front() {
            if q.consumers.is_empty() {
                break;
            }
            if let Some(deadline) = head.expires_at {
                if deadline <= *now.get_or_insert_with(Instant::now) {
                    return true;
                }
            }
            let n = q.consumers.len();
            let Some(index) = (0..n).map(|i| (q.cursor + i) % n).find(|&i| {
                channels
                    .get(&q.consumers[i].channel)
                    .is_some_and(ChannelState::has_room)
            }) else {
                break;
            };
            let consumer = q.consumers[index];
            q.cursor = (index + 1) % n;
            let msg = q.ready.pop_front().expect("the head was just inspected");
            let channel = channels
                .get_mut(&consumer.channel)
                .expect("the channel was just found");
            match channel.deliver(consumer.sink, &q.name, q.id, msg) {
                Ok(()) => q.stats.delivered += 1,
                Err(msg) => {
                    // The stream was dropped: forget this consumer.
                    q.ready.push_front(msg);
                    q.remove_consumers(|c| *c != consumer);
                    channel.forget_queue(consumer.sink, name);
                }
            }
        }
        false
    }
}
