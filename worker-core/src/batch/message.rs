//! [`Message`]: one message of a batch, as a handler sees it.

use std::fmt;
use std::sync::Arc;

use super::BatchShared;
use crate::broker::{Delivery, Headers, Properties};
use crate::settlement::Action;

/// One message of a batch, with its decoded body.
///
/// The per-message decisions [`ack`](Message::ack), [`reject`](Message::reject)
/// and [`requeue`](Message::requeue) win over the route's `on_success` and
/// `on_exception` policies. They share state with the batch, so they work even
/// if the message was moved elsewhere; a decision made after the handler
/// returned is ignored with a warning.
pub struct Message<T = serde_json::Value> {
    pub(super) body: T,
    pub(super) shared: Arc<BatchShared>,
    pub(super) index: usize,
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

    /// Which delivery of this message this is, 1 for the first. Quorum
    /// queues count deliveries (`x-delivery-count`); on a classic queue a
    /// redelivered message's count is unknown: `None`. Counts deliveries by
    /// the broker, so a retry through a delay queue (a new message) starts
    /// at 1 again: see [`retry_count`](Message::retry_count).
    pub fn delivery_count(&self) -> Option<u32> {
        self.delivery().delivery_count()
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

    /// Whether this process still owns the message: `true` while the
    /// channel it came on can settle it. `false` once the runtime knows
    /// that it cannot: the connection closed or missed its heartbeats, a
    /// settlement on the channel failed, or shutdown returned the message
    /// to the broker. The broker then redelivers it, perhaps to another
    /// process (the standby of a `single_active` route), so a handler with
    /// side effects checks this before committing them, and stops.
    ///
    /// This is a fence on this process's side only: it turns `false` when
    /// this process learns of the loss, which under a silent network cut
    /// is about when the broker hands the queue over (both wait for
    /// missed heartbeats; see docs/semantics.md). A write that must never
    /// happen twice also needs an idempotency key downstream.
    pub fn is_owned(&self) -> bool {
        !self.shared.lease.is_cancelled()
    }

    /// Completes once [`is_owned`](Message::is_owned) turns `false`: for a
    /// long handler to `tokio::select!` its work against.
    pub fn ownership_lost(&self) -> impl std::future::Future<Output = ()> + Send + '_ {
        self.shared.lease.cancelled()
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
