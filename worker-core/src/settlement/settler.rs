//! [`Settler`]: settles the finished batches of one channel. It resolves
//! each message's action ([`Policy`] and the message's [`Verdict`]), turns
//! it into a wire action (republishing for retries and dead-letters, see
//! [`retry`](super::retry) and [`dead_letter`](super::dead_letter), all the
//! republishes of a batch pipelined by [`republish`](super::republish)), and
//! sends the coalesced operations of the [`AckTracker`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::acks::{AckTracker, Op};
use super::plan::{count, settled, tally, Plan};
use super::{Action, Policy, Resolution, Verdict};
use crate::broker::Settle;
use crate::broker::{Channel, Delivery};
use crate::metrics::{QueueOutcomes, RouteStats};

/// Pause after a settlement whose republish (retry or dead-letter) failed,
/// doubled for each such settlement in a row up to
/// [`MAX_REPUBLISH_PAUSE`]: the requeued messages would otherwise come
/// straight back and fail again in a tight loop.
pub(crate) const REPUBLISH_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause after failed republishes.
pub(crate) const MAX_REPUBLISH_PAUSE: Duration = Duration::from_secs(5);

struct TrackerState {
    tracker: AckTracker,
    alive: bool,
    /// The operations of one settlement, kept to reuse its allocation.
    ops: Vec<Op>,
}

/// Settles the batches of one channel.
pub(crate) struct Settler<C: Channel> {
    pub(super) route: &'static str,
    pub(super) channel: Arc<C>,
    pub(super) policy: Policy,
    outcomes: Vec<(&'static str, Arc<QueueOutcomes>)>,
    state: tokio::sync::Mutex<TrackerState>,
    pub(super) declared_delay_queues: Mutex<HashSet<String>>,
    /// Republishes that failed (the message was requeued instead).
    pub(super) republish_failures: AtomicU64,
    /// Settlements in a row with a failed republish.
    failing_streak: AtomicU32,
    /// Buffers of finished settlements, reused by the next ones.
    scratch: Mutex<Vec<Scratch>>,
    /// Cancelled once this channel can no longer settle its messages: the
    /// handlers' `Message::is_owned`.
    lease: CancellationToken,
}

/// The per-message lists of one settlement.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) plans: Vec<Plan>,
    pub(super) wire: Vec<(u64, Settle)>,
}

/// Buffers longer than this are not kept for reuse.
const SCRATCH_KEPT: usize = 1024;

impl<C: Channel> Settler<C> {
    pub(crate) fn new(
        route: &'static str,
        channel: Arc<C>,
        policy: Policy,
        queues: &[&'static str],
        stats: &RouteStats,
    ) -> Self {
        let outcomes = queues.iter().map(|q| (*q, stats.queue(q))).collect();
        Settler {
            route,
            channel,
            policy,
            outcomes,
            state: tokio::sync::Mutex::new(TrackerState {
                tracker: AckTracker::new(),
                alive: true,
                ops: Vec::new(),
            }),
            declared_delay_queues: Mutex::new(HashSet::new()),
            republish_failures: AtomicU64::new(0),
            failing_streak: AtomicU32::new(0),
            scratch: Mutex::new(Vec::new()),
            lease: CancellationToken::new(),
        }
    }

    /// The lease of this channel's messages, cancelled once they can no
    /// longer be settled here (the broker redelivers them).
    pub(crate) fn lease(&self) -> &CancellationToken {
        &self.lease
    }

    /// Registers the tags of a batch being handed to its handler.
    ///
    /// Returns whether the channel is still usable: once a settlement
    /// failed, handing more messages of this channel to the handler would
    /// only produce duplicates (the broker redelivers them all).
    pub(crate) async fn hold(&self, deliveries: &[Delivery]) -> bool {
        let mut st = self.state.lock().await;
        st.tracker.hold(deliveries.iter().map(|d| d.tag));
        st.alive
    }

    /// Marks the channel lost: later settlements are dropped (the broker
    /// redelivers those messages).
    pub(crate) async fn invalidate(&self) {
        self.lease.cancel();
        self.state.lock().await.alive = false;
    }

    /// Counts `deliveries` as requeued (those [`requeue_outstanding`]
    /// returns to the broker at the shutdown timeout).
    ///
    /// [`requeue_outstanding`]: Settler::requeue_outstanding
    pub(crate) fn count_requeued<'a>(&self, deliveries: impl Iterator<Item = &'a Delivery>) {
        for d in deliveries {
            count(self.outcomes(&d.queue), |o| &o.requeued);
        }
    }

    /// Requeues every tag still held (shutdown timeout).
    pub(crate) async fn requeue_outstanding(&self) -> usize {
        let mut st = self.state.lock().await;
        if !st.alive {
            return 0;
        }
        let tags = st.tracker.held_tags();
        // Returned to the broker: a handler still running on them no
        // longer owns them.
        self.lease.cancel();
        // Interrupted by the runtime, not failed: not a delivery attempt.
        let actions: Vec<_> = tags.iter().map(|t| (*t, Settle::Return)).collect();
        let mut ops = Vec::new();
        st.tracker.settle(&actions, &mut ops);
        self.send(&mut st, &ops).await;
        tags.len()
    }

    pub(super) fn outcomes(&self, queue: &str) -> Option<&QueueOutcomes> {
        self.outcomes
            .iter()
            .find(|(q, _)| *q == queue)
            .map(|(_, o)| &**o)
    }

    /// Settles a finished batch: `resolution(i)` is what settles
    /// `deliveries[i]`: what the handler or the decoder said about it, and
    /// how its handler run ended. Returns what the messages were settled
    /// with.
    pub(crate) async fn settle(
        &self,
        deliveries: &[Delivery],
        resolution: impl Fn(usize) -> Resolution,
    ) -> crate::otel::Tally {
        if self.lease.is_cancelled() {
            // Nothing to settle with: no acks (nor retry or dead-letter
            // copies) and nothing counted; the broker redelivers them.
            tracing::debug!(
                route = self.route,
                messages = deliveries.len(),
                "channel lost before settlement; the broker redelivers these messages"
            );
            return crate::otel::Tally::default();
        }
        let failures_before = self.republish_failures.load(Ordering::Relaxed);
        let mut scratch = self.take_scratch();
        let plans = &mut scratch.plans;
        for (i, d) in deliveries.iter().enumerate() {
            let resolution = resolution(i);
            let action = self.policy.action(resolution);
            let outcomes = self.outcomes(&d.queue);
            let plan = if resolution.0 == Verdict::DecodeFailed {
                count(outcomes, |o| &o.decode_failures);
                match action {
                    Action::Reject => self.plan_reject(d, "decode failed", outcomes),
                    _ => self.plan(d, action, outcomes).await,
                }
            } else {
                self.plan(d, action, outcomes).await
            };
            plans.push(plan);
        }
        let settled_with = tally(plans);
        self.republish_all(deliveries, &mut scratch).await;
        self.send_settled(&scratch.wire).await;
        self.keep_scratch(scratch);
        if self.republish_failures.load(Ordering::Relaxed) > failures_before {
            self.pause_after_failed_republish().await;
        } else {
            self.failing_streak.store(0, Ordering::Relaxed);
        }
        settled_with
    }

    fn take_scratch(&self) -> Scratch {
        let mut pool = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
        pool.pop().unwrap_or_default()
    }

    fn keep_scratch(&self, mut scratch: Scratch) {
        if scratch.plans.capacity() > SCRATCH_KEPT || scratch.wire.capacity() > SCRATCH_KEPT {
            return;
        }
        scratch.plans.clear();
        scratch.wire.clear();
        let mut pool = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
        pool.push(scratch);
    }

    async fn send_settled(&self, wire: &[(u64, Settle)]) {
        let mut st = self.state.lock().await;
        if st.alive {
            let mut ops = std::mem::take(&mut st.ops);
            ops.clear();
            st.tracker.settle(wire, &mut ops);
            self.send(&mut st, &ops).await;
            st.ops = ops;
        } else {
            tracing::debug!(
                route = self.route,
                "channel lost before settlement; the broker redelivers these messages"
            );
        }
    }

    async fn send(&self, st: &mut TrackerState, ops: &[Op]) {
        for op in ops {
            let r = match *op {
                Op::Ack { tag, multiple } => self.channel.ack(tag, multiple).await,
                Op::Reject { tag, requeue } => self.channel.reject(tag, requeue).await,
                Op::Return { tag } => self.channel.nack(tag, false, true).await,
            };
            if let Err(e) = r {
                tracing::warn!(route = self.route, error = %e, op = ?op, "settlement failed; the broker will redeliver");
                self.lease.cancel();
                st.alive = false;
                return;
            }
        }
    }

    /// How `action` settles `d`: a wire action, or a republish (retries
    /// and dead-letters) before the ack.
    async fn plan(&self, d: &Delivery, action: Action, outcomes: Option<&QueueOutcomes>) -> Plan {
        match action {
            Action::Ack => settled(outcomes, |o| &o.acked, Settle::Ack),
            Action::Reject => self.plan_reject(d, "rejected", outcomes),
            Action::Requeue => match self.policy.retries {
                None => settled(outcomes, |o| &o.requeued, Settle::Requeue),
                Some(retries) => self.plan_retry(d, retries, outcomes).await,
            },
        }
    }

    /// A republish failed: count it, log it, requeue the message in place.
    pub(super) fn republish_failed(
        &self,
        what: &str,
        error: &crate::error::BrokerError,
        outcomes: Option<&QueueOutcomes>,
    ) -> Settle {
        self.republish_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(route = self.route, error = %error, "{what} failed; requeueing in place");
        count(outcomes, |o| &o.requeued);
        Settle::Requeue
    }

    /// Holds the batch's slot for a while after a republish failed (its
    /// messages are settled, the failed ones requeued), so that the requeued
    /// messages are not handled again straight away: `REPUBLISH_PAUSE`,
    /// doubled for each such settlement in a row, at most
    /// `MAX_REPUBLISH_PAUSE`.
    async fn pause_after_failed_republish(&self) {
        let streak = self.failing_streak.fetch_add(1, Ordering::Relaxed);
        let pause = REPUBLISH_PAUSE
            .saturating_mul(1u32.checked_shl(streak.min(16)).unwrap_or(u32::MAX))
            .min(MAX_REPUBLISH_PAUSE);
        tracing::warn!(
            route = self.route,
            pause_ms = pause.as_millis() as u64,
            "republishing failed, so messages were requeued; pausing before the next batch"
        );
        tokio::time::sleep(pause).await;
    }
}
