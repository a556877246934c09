//! The batching engine: deliveries are collected into batches by size or
//! flush deadline ([`Batcher`]), handed to the route's adapter as a
//! [`Batch`], decoded into [`Message`]s whose per-message decisions the
//! batch keeps, and settled when the handler returns. [`Consumer`] runs it
//! for one `amqp` route over any [`Broker`](crate::broker::Broker); the
//! SSE backend uses the same [`Batcher`].
//!
//! ```text
//! broker ──Delivery──▶ Batcher ──Vec<Delivery>──▶ Batch ──▶ adapter ──▶ handler(Vec<Message<T>>, ..)
//!                                                   │ decisions (ack/reject/requeue, decode failures)
//!                                                   ▼
//!                                            settlement::Settler ──▶ ack / nack / republish
//! ```

mod batcher;
pub(crate) mod bisect;
mod consumer;
mod drain;
mod extract;
mod message;
mod runs;
mod slot;
mod spec;
mod standby;
mod tasks;
mod topology;
mod versioned;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::broker::Delivery;
use crate::error::Error;
use crate::future::BoxFuture;
use crate::settlement::{Action, Verdict};

pub use batcher::{Batcher, FlushReason};
pub(crate) use consumer::Consumer;
pub use extract::{assert_from_batch, schema, FromBatch};
pub use message::Message;
pub(crate) use spec::{Batching, Reconnect};
pub use spec::{Broadcast, ConsumerSpec};

/// The adapter the macro generates for an `amqp` route: decode, extract, call.
pub(crate) type BatchHandlerFn = fn(Batch, App) -> BoxFuture<'static, Result<(), Error>>;

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

/// The decision state of each message of a batch: inline for small
/// batches, so that a batch of one costs no allocation for it.
enum Decisions {
    Inline([AtomicU8; INLINE_DECISIONS]),
    Heap(Box<[AtomicU8]>),
}

const INLINE_DECISIONS: usize = 16;

impl Decisions {
    fn new(n: usize) -> Self {
        if n <= INLINE_DECISIONS {
            Decisions::Inline([const { AtomicU8::new(UNDECIDED) }; INLINE_DECISIONS])
        } else {
            Decisions::Heap((0..n).map(|_| AtomicU8::new(UNDECIDED)).collect())
        }
    }
}

impl std::ops::Index<usize> for Decisions {
    type Output = AtomicU8;

    fn index(&self, index: usize) -> &AtomicU8 {
        match self {
            Decisions::Inline(slots) => &slots[index],
            Decisions::Heap(slots) => &slots[index],
        }
    }
}

/// State shared between a batch's messages and the engine that settles them.
pub(crate) struct BatchShared {
    pub(crate) route: &'static str,
    pub(crate) deliveries: Vec<Delivery>,
    decisions: Decisions,
    sealed: AtomicBool,
    /// Set once the batch is settled (after every bisection run).
    finished: AtomicBool,
    /// Cancelled once the batch's channel can no longer settle it.
    pub(crate) lease: CancellationToken,
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

    /// Marks the batch settled.
    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }

    /// Whether the batch is settled (its handler runs are over).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
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

/// Logs a body that does not decode: at `debug` every time, with serde's
/// message (which may quote the body); at `warn` without it (the kind of
/// error and where), at most once every 10 s per route, saying how many
/// were not logged at `warn` since.
fn log_decode_failure(route: &'static str, d: &Delivery, e: &serde_json::Error) {
    tracing::debug!(
        route,
        queue = &*d.queue,
        delivery_tag = d.tag,
        body_len = d.body.len(),
        error = %e,
        "message body does not decode; applying on_decode_error"
    );
    if let Some(unlogged) = DECODE_WARNINGS.allow(route) {
        let kind = match e.classify() {
            serde_json::error::Category::Io => "an I/O error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "JSON of another shape",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        tracing::warn!(
            route,
            queue = &*d.queue,
            delivery_tag = d.tag,
            body_len = d.body.len(),
            line = e.line(),
            column = e.column(),
            not_logged_since = unlogged,
            "message body does not decode ({kind}); applying on_decode_error (serde's message at debug; at most one such warning every 10 s per route)"
        );
    }
}

/// The rate limit of decode warnings.
static DECODE_WARNINGS: crate::logging::Every = crate::logging::Every::new(10);

/// The decisions of a new batch: undecided, except the deliveries with a
/// [`Delivery::defect`], which are settled by `on_decode_error` whatever
/// the handler does (one WARN each, with the reason).
fn decisions_for(route: &'static str, deliveries: &[Delivery]) -> Decisions {
    let decisions = Decisions::new(deliveries.len());
    for (index, d) in deliveries.iter().enumerate() {
        if let Some(defect) = &d.defect {
            tracing::warn!(
                route,
                queue = &*d.queue,
                delivery_tag = d.tag,
                defect = %defect,
                "message cannot be read; applying on_decode_error"
            );
            decisions[index].store(DECODE_FAILED, Ordering::Release);
        }
    }
    decisions
}

/// A batch of raw deliveries handed to a route's adapter, which decodes it
/// into the handler's first argument.
pub struct Batch {
    pub(crate) shared: Arc<BatchShared>,
}

impl std::fmt::Debug for Batch {
    /// The route and the size, not the bodies.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("route", &self.shared.route)
            .field("len", &self.shared.deliveries.len())
            .finish_non_exhaustive()
    }
}

impl Batch {
    /// Builds a batch for `route` from deliveries (whose lease is never
    /// lost).
    pub fn new(route: &'static str, deliveries: Vec<Delivery>) -> Self {
        Batch::leased(route, deliveries, CancellationToken::new())
    }

    /// A batch whose messages are owned until `lease` is cancelled.
    pub(crate) fn leased(
        route: &'static str,
        deliveries: Vec<Delivery>,
        lease: CancellationToken,
    ) -> Self {
        let decisions = decisions_for(route, &deliveries);
        Batch {
            shared: Arc::new(BatchShared {
                route,
                deliveries,
                decisions,
                sealed: AtomicBool::new(false),
                finished: AtomicBool::new(false),
                lease,
            }),
        }
    }

    /// A batch of `deliveries` in `recycled`, the state of a settled batch
    /// that nothing else holds (its allocation is reused); a new one when
    /// something still holds it. Also returns `recycled`'s buffer of
    /// deliveries, emptied, for the next batch.
    pub(crate) fn reusing(
        mut recycled: Arc<BatchShared>,
        route: &'static str,
        deliveries: Vec<Delivery>,
        lease: CancellationToken,
    ) -> Self {
        let Some(shared) = Arc::get_mut(&mut recycled) else {
            return Batch::leased(route, deliveries, lease);
        };
        shared.lease = lease;
        shared.route = route;
        shared.decisions = decisions_for(route, &deliveries);
        shared.deliveries = deliveries;
        *shared.sealed.get_mut() = false;
        *shared.finished.get_mut() = false;
        Batch { shared: recycled }
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
            if d.defect.is_some() {
                continue;
            }
            match serde_json::from_slice::<T>(&d.body) {
                Ok(body) => out.push(Message {
                    body,
                    shared: self.shared.clone(),
                    index,
                }),
                Err(e) => {
                    log_decode_failure(self.shared.route, d, &e);
                    self.shared.decisions[index].store(DECODE_FAILED, Ordering::Release);
                }
            }
        }
        out
    }
}
