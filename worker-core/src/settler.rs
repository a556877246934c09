//! Settling a finished batch: route policy, per-message decisions, retries
//! through delay queues, dead-lettering, and the coalesced wire operations.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::action::Action;
use crate::broker::{Channel, QueueOptions};
use crate::error::{BrokerError, BrokerErrorKind};
use crate::message::{
    BatchShared, Delivery, HeaderValue, Verdict, DEATH_REASON_HEADER, ORIGINAL_QUEUE_HEADER,
    RETRY_COUNT_HEADER,
};
use crate::registry::AmqpOptions;
use crate::settle::{AckTracker, Op, WireAction};
use crate::stats::{QueueOutcomes, RouteStats};

/// Default delay of the first retry when `max_retries` is set without
/// `retry_backoff`.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// Longest delay between retries.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// Pause after a settlement whose republish (retry or dead-letter) failed,
/// doubled for each such settlement in a row up to
/// [`MAX_REPUBLISH_PAUSE`]: the requeued messages would otherwise come
/// straight back and fail again in a tight loop.
pub const REPUBLISH_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause after failed republishes.
pub const MAX_REPUBLISH_PAUSE: Duration = Duration::from_secs(5);

struct TrackerState {
    tracker: AckTracker,
    alive: bool,
}

/// Settles the batches of one channel.
pub(crate) struct Settler<C: Channel> {
    route: &'static str,
    channel: Arc<C>,
    options: AmqpOptions,
    outcomes: Vec<(&'static str, Arc<QueueOutcomes>)>,
    state: tokio::sync::Mutex<TrackerState>,
    declared_delay_queues: Mutex<HashSet<String>>,
    /// Republishes that failed (the message was requeued instead).
    republish_failures: AtomicU64,
    /// Settlements in a row with a failed republish.
    failing_streak: AtomicU32,
}

/// The delay queue of a retry: `{queue}.retry.{ms}ms`.
pub fn delay_queue_name(queue: &str, delay: Duration) -> String {
    format!("{queue}.retry.{}ms", delay.as_millis())
}

/// The delay before attempt `attempt` (1-based): `backoff * 2^(attempt-1)`, capped.
pub fn retry_delay(backoff: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    backoff.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

impl<C: Channel> Settler<C> {
    pub(crate) fn new(
        route: &'static str,
        channel: Arc<C>,
        options: AmqpOptions,
        stats: Arc<RouteStats>,
    ) -> Self {
        let outcomes = options
            .queues
            .iter()
            .map(|q| (*q, stats.queue(q)))
            .collect();
        Settler {
            route,
            channel,
            options,
            outcomes,
            state: tokio::sync::Mutex::new(TrackerState {
                tracker: AckTracker::new(),
                alive: true,
            }),
            declared_delay_queues: Mutex::new(HashSet::new()),
            republish_failures: AtomicU64::new(0),
            failing_streak: AtomicU32::new(0),
        }
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
        let actions: Vec<_> = tags.iter().map(|t| (*t, WireAction::Requeue)).collect();
        let mut ops = Vec::new();
        st.tracker.settle(&actions, &mut ops);
        self.send(&mut st, &ops).await;
        tags.len()
    }

    fn outcomes(&self, queue: &str) -> Option<&QueueOutcomes> {
        self.outcomes
            .iter()
            .find(|(q, _)| *q == queue)
            .map(|(_, o)| &**o)
    }

    /// Settles a finished batch: `ok` is whether the handler succeeded.
    pub(crate) async fn settle(&self, batch: &BatchShared, ok: bool) {
        let failures_before = self.republish_failures.load(Ordering::Relaxed);
        let mut wire = Vec::with_capacity(batch.deliveries.len());
        for (i, d) in batch.deliveries.iter().enumerate() {
            let verdict = batch.verdict(i);
            let action = match verdict {
                Verdict::Decided(a) => a,
                Verdict::DecodeFailed => self.options.on_decode_error,
                Verdict::Undecided if ok => self.options.on_success,
                Verdict::Undecided => self.options.on_exception,
            };
            let outcomes = self.outcomes(&d.queue);
            if verdict == Verdict::DecodeFailed {
                count(outcomes, |o| &o.decode_failures);
            }
            let w = if verdict == Verdict::DecodeFailed && action == Action::Reject {
                self.reject(d, "decode failed", outcomes).await
            } else {
                self.resolve(d, action, outcomes).await
            };
            wire.push((d.tag, w));
        }
        {
            let mut st = self.state.lock().await;
            if st.alive {
                let mut ops = Vec::new();
                st.tracker.settle(&wire, &mut ops);
                self.send(&mut st, &ops).await;
            } else {
                tracing::debug!(
                    route = self.route,
                    "channel lost before settlement; the broker redelivers these messages"
                );
            }
        }
        if self.republish_failures.load(Ordering::Relaxed) > failures_before {
            self.pause_after_failed_republish().await;
        } else {
            self.failing_streak.store(0, Ordering::Relaxed);
        }
    }

    async fn send(&self, st: &mut TrackerState, ops: &[Op]) {
        for op in ops {
            let r = match *op {
                Op::Ack { tag, multiple } => self.channel.ack(tag, multiple).await,
                Op::Nack { tag, requeue } => self.channel.nack(tag, false, requeue).await,
            };
            if let Err(e) = r {
                tracing::warn!(route = self.route, error = %e, op = ?op, "settlement failed; the broker will redeliver");
                st.alive = false;
                return;
            }
        }
    }

    /// Turns an action into a wire action, republishing for retries and
    /// dead-lettering first. A failed republish requeues: never lost.
    async fn resolve(
        &self,
        d: &Delivery,
        action: Action,
        outcomes: Option<&QueueOutcomes>,
    ) -> WireAction {
        match action {
            Action::Ack => {
                count(outcomes, |o| &o.acked);
                WireAction::Ack
            }
            Action::Reject => self.reject(d, "rejected", outcomes).await,
            Action::Requeue => match self.options.max_retries {
                None => {
                    count(outcomes, |o| &o.requeued);
                    WireAction::Requeue
                }
                Some(max) => {
                    let attempt = d.retry_count() + 1;
                    if attempt > max {
                        self.reject(d, "retries exhausted", outcomes).await
                    } else {
                        match self.retry(d, attempt).await {
                            Ok(()) => {
                                count(outcomes, |o| &o.retried);
                                WireAction::Ack
                            }
                            Err(e) => {
                                self.republish_failures.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(route = self.route, error = %e, "retry republish failed; requeueing in place");
                                count(outcomes, |o| &o.requeued);
                                WireAction::Requeue
                            }
                        }
                    }
                }
            },
        }
    }

    async fn reject(
        &self,
        d: &Delivery,
        reason: &str,
        outcomes: Option<&QueueOutcomes>,
    ) -> WireAction {
        let Some(dlq) = self.options.dead_letter else {
            count(outcomes, |o| &o.rejected);
            return WireAction::Reject;
        };
        let mut props = d.properties.clone();
        props
            .headers
            .insert(DEATH_REASON_HEADER.to_owned(), HeaderValue::from(reason));
        props.headers.insert(
            ORIGINAL_QUEUE_HEADER.to_owned(),
            HeaderValue::from(&*d.queue),
        );
        let mut published = self.channel.publish("", dlq, &d.body, &props).await;
        if matches!(&published, Err(e) if e.kind == BrokerErrorKind::Unroutable) {
            // Deleted since the route started: declare it again (as at
            // startup) rather than requeue the message in a loop.
            tracing::warn!(
                route = self.route,
                dead_letter = dlq,
                "dead-letter queue missing; declaring it again"
            );
            published = match self
                .channel
                .declare_queue(dlq, &QueueOptions::durable())
                .await
            {
                Ok(()) => self.channel.publish("", dlq, &d.body, &props).await,
                Err(e) => Err(e),
            };
        }
        match published {
            Ok(()) => {
                count(outcomes, |o| &o.dead_lettered);
                WireAction::Ack
            }
            Err(e) => {
                self.republish_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(route = self.route, dead_letter = dlq, error = %e, "dead-letter publish failed; requeueing");
                count(outcomes, |o| &o.requeued);
                WireAction::Requeue
            }
        }
    }

    async fn retry(&self, d: &Delivery, attempt: u32) -> Result<(), BrokerError> {
        let backoff = self.options.retry_backoff.unwrap_or(DEFAULT_RETRY_BACKOFF);
        let delay = retry_delay(backoff, attempt);
        let delay_queue = delay_queue_name(&d.queue, delay);
        let known = self
            .declared_delay_queues
            .lock()
            .expect("delay queue set poisoned")
            .contains(&delay_queue);
        if !known {
            self.declare_delay_queue(&delay_queue, delay, &d.queue)
                .await?;
        }
        let mut props = d.properties.clone();
        props.headers.insert(
            RETRY_COUNT_HEADER.to_owned(),
            HeaderValue::Int(attempt as i64),
        );
        props.headers.insert(
            ORIGINAL_QUEUE_HEADER.to_owned(),
            HeaderValue::from(&*d.queue),
        );
        tracing::debug!(
            route = self.route,
            attempt,
            delay_ms = delay.as_millis() as u64,
            "retrying message"
        );
        match self
            .channel
            .publish("", &delay_queue, &d.body, &props)
            .await
        {
            Err(e) if e.kind == BrokerErrorKind::Unroutable && known => {
                // Deleted since it was declared: declare it again.
                tracing::warn!(
                    route = self.route,
                    delay_queue,
                    "delay queue missing; declaring it again"
                );
                self.declare_delay_queue(&delay_queue, delay, &d.queue)
                    .await?;
                self.channel
                    .publish("", &delay_queue, &d.body, &props)
                    .await
            }
            published => published,
        }
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

    /// Declares the delay queue `name`: messages wait `delay`, then the
    /// broker dead-letters them back to `queue`.
    async fn declare_delay_queue(
        &self,
        name: &str,
        delay: Duration,
        queue: &str,
    ) -> Result<(), BrokerError> {
        let opts = QueueOptions {
            durable: true,
            message_ttl: Some(delay),
            dead_letter_exchange: Some(String::new()),
            dead_letter_routing_key: Some(queue.to_owned()),
            ..Default::default()
        };
        self.channel.declare_queue(name, &opts).await?;
        self.declared_delay_queues
            .lock()
            .expect("delay queue set poisoned")
            .insert(name.to_owned());
        Ok(())
    }
}

fn count(
    outcomes: Option<&QueueOutcomes>,
    pick: impl Fn(&QueueOutcomes) -> &std::sync::atomic::AtomicU64,
) {
    if let Some(o) = outcomes {
        pick(o).fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_are_capped() {
        let b = Duration::from_millis(500);
        assert_eq!(retry_delay(b, 1), Duration::from_millis(500));
        assert_eq!(retry_delay(b, 2), Duration::from_secs(1));
        assert_eq!(retry_delay(b, 3), Duration::from_secs(2));
        assert_eq!(retry_delay(b, 40), MAX_RETRY_DELAY);
        assert_eq!(
            delay_queue_name("items", Duration::from_secs(2)),
            "items.retry.2000ms"
        );
    }
}
