//! The broker's state behind one mutex ([`Inner`]): queues, exchanges,
//! bindings and open channels; declaring, routing and publishing. Every
//! operation runs synchronously under the lock and dispatches
//! (`dispatch.rs`) before returning; no task runs per message.

use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::channel_state::{ChannelState, Unacked};
use super::dead_letter::{self, Death, DeathReason};
use super::exchange::Exchange;
use super::expiry::{self, Expire, Next};
use super::hash::FastMap;
use super::queue::{Payload, Queue, QueueStats, Stored};
use crate::broker::{Properties, QueueOptions};
use crate::error::{BrokerError, BrokerErrorKind};

/// The delivery limit of a quorum queue declared without one (RabbitMQ
/// 4.0 and later).
pub(crate) const DEFAULT_DELIVERY_LIMIT: u32 = 20;

/// The state behind a [`MemoryBroker`](super::MemoryBroker) and its channels.
pub(super) struct Inner {
    pub(super) url: String,
    state: Mutex<State>,
}

impl Inner {
    /// A new broker's state, for `url`.
    pub(super) fn new(url: &str) -> Arc<Inner> {
        Arc::new_cyclic(|me: &Weak<Inner>| {
            let engine: Weak<dyn Expire> = me.clone();
            Inner {
                url: url.to_owned(),
                state: Mutex::new(State::new(engine)),
            }
        })
    }

    /// Locks the state. A panic while it was held cannot leave it
    /// half-updated in a way later operations trip over, so poisoning is
    /// ignored.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Expire for Inner {
    fn expire(&self, queue: &str, id: u64) -> Next {
        let mut state = self.lock();
        if state.queues.get(queue).is_none_or(|q| q.id != id) {
            return Next::Gone;
        }
        state.expire_due(queue);
        state.dispatch_dirty();
        match state.queues.get(queue) {
            Some(q) if q.id == id => q.head_deadline().map_or(Next::Idle, Next::At),
            _ => Next::Gone,
        }
    }
}

pub(super) struct State {
    pub(super) queues: FastMap<Arc<str>, Queue>,
    pub(super) exchanges: FastMap<String, Exchange>,
    pub(super) channels: FastMap<u64, ChannelState>,
    next_id: u64,
    /// Queues whose ready messages or consumers changed: dispatch them.
    pub(super) dirty: Vec<Arc<str>>,
    pub(super) connected: bool,
    pub(super) generation: u64,
    pub(super) fail_connect: u32,
    /// `WORKER_MEMORY_MAX_LENGTH`: the most ready messages of a queue
    /// before publishes to it are refused.
    pub(super) max_length: Option<u64>,
    me: Weak<dyn Expire>,
}

/// The depth from which a growing queue of the embedded broker is logged:
/// at 65 536 ready messages, then at each doubling.
const DEPTH_WARNING: usize = 1 << 16;

pub(super) fn refused(message: String) -> BrokerError {
    BrokerError::new(BrokerErrorKind::Refused, message)
}

fn parse_expiration(properties: &Properties) -> Option<Duration> {
    let ms: u64 = properties.expiration.as_deref()?.trim().parse().ok()?;
    Some(Duration::from_millis(ms))
}

impl State {
    pub(super) fn new(me: Weak<dyn Expire>) -> Self {
        State {
            queues: FastMap::default(),
            exchanges: super::exchange::predeclared(),
            channels: FastMap::default(),
            next_id: 0,
            dirty: Vec::new(),
            connected: true,
            generation: 0,
            fail_connect: 0,
            max_length: None,
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
        self.declare_queue_by(name, options, None)
    }

    /// Declares a queue for `channel` (the owner of an exclusive queue).
    pub(super) fn declare_queue_by(
        &mut self,
        name: &str,
        options: &QueueOptions,
        channel: Option<u64>,
    ) -> Result<(), BrokerError> {
        if name.is_empty() {
            return Err(refused(
                "the embedded broker does not name queues: declare a queue with a non-empty name"
                    .into(),
            ));
        }
        if options.quorum && options.max_priority.is_some() {
            // As RabbitMQ, which names the argument and the queue type.
            return Err(refused(format!(
                "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue `{name}` of queue type quorum: quorum queues order by message priority without it"
            )));
        }
        if let Some(q) = self.queues.get(name) {
            if q.owner.is_some() && q.owner != channel {
                return Err(refused(format!(
                    "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue `{name}`"
                )));
            }
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
        let mut queue = Queue::new(name.clone(), id, options.clone());
        queue.owner = channel.filter(|_| options.exclusive);
        self.queues.insert(name, queue);
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

    pub(super) fn purge(&mut self, name: &str) -> Result<u64, BrokerError> {
        self.take(name).map(|taken| taken.len() as u64)
    }

    pub(super) fn stats(&self, name: &str) -> Option<QueueStats> {
        let q = self.queues.get(name)?;
        let unacked = self
            .channels
            .values()
            .map(|c| c.unacked_in(q.id))
            .sum::<usize>();
        Some(QueueStats {
            ready: q.ready.len() as u64,
            unacked: unacked as u64,
            consumers: q.consumers.len() as u64,
            ..q.stats
        })
    }

    /// Every queue's name, ready and unacked messages, sorted by name.
    pub(super) fn depths(&self) -> Vec<(String, u64, u64)> {
        let mut out: Vec<(String, u64, u64)> = self
            .queues
            .keys()
            .filter_map(|name| {
                let s = self.stats(name)?;
                Some((name.to_string(), s.ready, s.unacked))
            })
            .collect();
        out.sort();
        out
    }

    pub(super) fn total_unacked(&self) -> u64 {
        self.channels.values().map(|c| c.unacked_len() as u64).sum()
    }

    pub(super) fn total_ready(&self) -> u64 {
        self.queues.values().map(|q| q.ready.len() as u64).sum()
    }

    pub(super) fn pending_delayed(&self) -> u64 {
        self.queues
            .values()
            .filter(|q| q.options.message_ttl.is_some())
            .map(|q| q.ready.len() as u64)
            .sum()
    }

    /// Takes the ready messages out of a queue, in order.
    pub(super) fn take(&mut self, name: &str) -> Result<Vec<Stored>, BrokerError> {
        let q = self
            .queues
            .get_mut(name)
            .ok_or_else(|| BrokerError::queue_not_found(name))?;
        Ok(mem::take(&mut q.ready).into())
    }

    // ---- publishing and routing -----------------------------------------

    pub(super) fn publish(&mut self, payload: Payload) -> Result<(), BrokerError> {
        let targets = self.targets(
            &payload.exchange,
            &payload.routing_key,
            &payload.properties.headers,
        )?;
        if targets.is_empty() {
            return Err(BrokerError::unroutable(
                &payload.exchange,
                &payload.routing_key,
            ));
        }
        if let Some(max) = self.max_length {
            let full = targets.iter().find(|t| {
                self.queues
                    .get(&***t)
                    .is_some_and(|q| q.ready.len() as u64 >= max)
            });
            if let Some(full) = full {
                return Err(BrokerError::new(
                    BrokerErrorKind::NotConfirmed,
                    format!(
                        "the embedded broker refused a message for queue `{full}`: it holds {max} ready messages, the bound of WORKER_MEMORY_MAX_LENGTH (reject-publish)"
                    ),
                ));
            }
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
                returned: 0,
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
        q.push_ready(msg);
        let ready = q.ready.len();
        if ready >= DEPTH_WARNING && ready.is_power_of_two() {
            tracing::warn!(
                queue = &*q.name,
                ready,
                "the embedded broker's queue `{}` holds {ready} ready messages, in this process's memory only; bound it with WORKER_MEMORY_MAX_LENGTH, or use RabbitMQ",
                q.name
            );
        }
        if let Some(max) = q.options.max_length {
            // x-max-length, overflow `drop-head`: the oldest ready go.
            while q.ready.len() > max as usize {
                q.ready.pop_front();
            }
        }
        if ttl.is_some() {
            expiry::ensure_timer(q, me, q.ready.len() == 1);
        }
        // Publishing a run of messages to one queue marks it once.
        if !dirty.last().is_some_and(|d| Arc::ptr_eq(d, &q.name)) {
            dirty.push(q.name.clone());
        }
    }

    /// Returns a delivered message to the head of its queue (if the queue
    /// still exists), marked redelivered. `counted`: a settlement asked for
    /// it (else its channel closed). `attempt`: the return counts as a
    /// delivery attempt of a quorum queue (`basic.reject` and a closed
    /// channel do, `basic.nack` does not: RabbitMQ 4.3's rule).
    pub(super) fn requeue(&mut self, unacked: Unacked, counted: bool, attempt: bool) {
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
        if q.options.quorum && attempt {
            msg.returned += 1;
            // RabbitMQ 4.0+: a quorum queue without `x-delivery-limit` has
            // a limit of 20.
            let limit = match q.options.delivery_limit {
                Some(l) => l.limit(),
                None => Some(DEFAULT_DELIVERY_LIMIT),
            };
            if limit.is_some_and(|limit| msg.returned > limit) {
                // As RabbitMQ's quorum queues: dead-lettered, or dropped
                // without a dead-letter exchange.
                q.stats.rejected += 1;
                let Some(target) = q.dead_letter_target() else {
                    return;
                };
                q.stats.dead_lettered += 1;
                let from = q.name.clone();
                self.dead_letter(&from, &target, msg, DeathReason::DeliveryLimit);
                return;
            }
        }
        let has_deadline = msg.expires_at.is_some();
        q.return_ready(msg);
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
        dead_letter::record(
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
        let Ok(mut targets) = self.targets(exchange, &routing_key, &properties.headers) else {
            return;
        };
        if reason != DeathReason::Rejected {
            targets.retain(|t| !dead_letter::is_cycle(&properties.headers, t));
        }
        let payload = Arc::new(Payload {
            exchange: exchange.clone(),
            routing_key,
            properties,
            body,
        });
        self.enqueue_all(&targets, payload);
    }
}
