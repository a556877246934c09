//! What settles each message of a batch ([`Plan`]): a wire action, or a
//! republish (retry, dead-letter) that is confirmed before the ack; and the
//! counting of outcomes.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::broker::Properties;
use crate::broker::Settle;
use crate::metrics::QueueOutcomes;

/// How one message of a batch is settled.
pub(super) enum Plan {
    /// Settled by this wire action (already counted).
    Settled(Settle),
    /// Acked once this republish is confirmed.
    Republish(Republish),
}

/// A message to publish again before its original is acked.
pub(super) struct Republish {
    /// The queue it goes to (default exchange).
    pub queue: String,
    /// Its properties, with the retry or dead-letter headers.
    pub properties: Properties,
    pub kind: Kind,
}

/// Why a message is republished.
pub(super) enum Kind {
    /// A retry through the delay queue of this delay.
    Retry { delay: Duration },
    /// To the route's dead-letter queue.
    DeadLetter,
}

/// Counts `outcomes` with `pick` and settles with `w`.
pub(super) fn settled(
    outcomes: Option<&QueueOutcomes>,
    pick: impl Fn(&QueueOutcomes) -> &std::sync::atomic::AtomicU64,
    w: Settle,
) -> Plan {
    count(outcomes, pick);
    Plan::Settled(w)
}

/// Adds one to the counter `pick` selects, when the queue is counted.
pub(super) fn count(
    outcomes: Option<&QueueOutcomes>,
    pick: impl Fn(&QueueOutcomes) -> &std::sync::atomic::AtomicU64,
) {
    if let Some(o) = outcomes {
        pick(o).fetch_add(1, Ordering::Relaxed);
    }
}

/// What `plans` settle their messages with, for the batch's span.
pub(super) fn tally(plans: &[Plan]) -> crate::otel::Tally {
    let mut t = crate::otel::Tally::default();
    for plan in plans {
        let n = match plan {
            Plan::Settled(Settle::Ack) => &mut t.acked,
            Plan::Settled(Settle::Requeue | Settle::Return) => &mut t.requeued,
            Plan::Settled(Settle::Reject) => &mut t.rejected,
            Plan::Republish(Republish {
                kind: Kind::Retry { .. },
                ..
            }) => &mut t.retried,
            Plan::Republish(Republish {
                kind: Kind::DeadLetter,
                ..
            }) => &mut t.dead_lettered,
        };
        *n += 1;
    }
    t
}
