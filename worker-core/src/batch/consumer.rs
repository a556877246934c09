//! [`Consumer`]: the batching consumer of one `amqp` route, generic over
//! [`Broker`].
//!
//! One consumer uses one channel at a time ("a run on a channel"): it
//! checks (or declares) the route's queues, sets the prefetch, consumes
//! every queue of the route into one [`Batcher`], and hands batches to the
//! handler when they reach their size or their flush deadline. Up to
//! `max_concurrency` batches run at once, each settled by the channel's
//! [`Settler`] when its handler returns. When the channel is lost, the
//! consumer reconnects with capped exponential backoff; messages of the lost
//! channel are redelivered by the broker and never settled on the new one.
//! Shutdown is in `drain.rs`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::runs::Calls;
use super::slot::{self, next_delivery, Slot};
use super::standby::Watch;
use super::tasks::BatchTasks;
use super::{Batch, BatchShared, Batcher, ConsumerSpec, FlushReason};
use crate::backoff::Backoff;
use crate::broker::{AmqpValue, Broker, Channel, Delivery, DELIVERY_COUNT_HEADER};
use crate::error::{BrokerError, BrokerErrorKind};
use crate::settlement::Settler;

/// The longest a consumer's setup on a channel (open it, declare or check
/// the queues, set the prefetch, subscribe) may take before it counts as a
/// failure and is tried again with backoff: a broker that accepts the
/// connection and leaves an operation unanswered (a cluster node whose peer
/// just died) must not leave the route silently stuck.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The consumer of one `amqp` route.
pub(crate) struct Consumer<B: Broker> {
    pub(super) spec: ConsumerSpec,
    broker: Arc<B>,
    /// Whether the warnings that depend on the broker's version were
    /// logged (once, at the first subscription).
    version_warned: std::sync::atomic::AtomicBool,
}

/// Why consuming on a channel stopped.
pub(super) enum ChannelEnd {
    /// The application is shutting down.
    Shutdown,
    /// The channel, its connection or its consumers were lost.
    Lost(BrokerError),
}

/// Consuming on one channel: what was received and not yet handed over,
/// the batches in flight, and the channel's settler.
pub(super) struct ChannelRun<B: Broker> {
    pub(super) channel: Arc<B::Channel>,
    pub(super) deliveries: <B::Channel as Channel>::Deliveries,
    pub(super) batcher: Batcher<Delivery>,
    /// Batches handed to the handler whose handler may still run (pruned
    /// at each dispatch; at most `max_concurrency` + 1 entries).
    pub(super) in_flight: Vec<Arc<BatchShared>>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) tasks: BatchTasks,
    pub(super) settler: Arc<Settler<B::Channel>>,
    /// Active or standing by (single active consumer).
    pub(super) standby: Watch,
    /// A delivery received while waiting for a batch slot, batched next.
    pub(super) early: Option<Delivery>,
}

impl<B: Broker> ChannelRun<B> {
    /// Prunes the settled batches from `in_flight`, returning one that
    /// nothing else holds (its messages were dropped), for reuse.
    fn recycle(&mut self) -> Option<Arc<BatchShared>> {
        let mut free = None;
        self.in_flight.retain_mut(|b| {
            if !b.is_finished() {
                return true;
            }
            if free.is_none() && Arc::strong_count(b) == 1 {
                free = Some(b.clone());
            }
            false
        });
        free
    }
}

impl<B: Broker> Consumer<B> {
    /// A consumer of `spec` on `broker`; [`run`](Consumer::run) drives it
    /// until shutdown.
    pub(crate) fn new(spec: ConsumerSpec, broker: Arc<B>) -> Self {
        Consumer {
            spec,
            broker,
            version_warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Consumes until shutdown, reconnecting after failures.
    pub(crate) async fn run(self) {
        let reconnect = self.spec.reconnect;
        let mut backoff = Backoff::new(reconnect.base, reconnect.cap);
        let mut consumed = false;
        loop {
            if self.spec.shutdown.is_cancelled() {
                return;
            }
            let err = match self.consume_once(&mut backoff, &mut consumed).await {
                Ok(ChannelEnd::Shutdown) => return,
                Ok(ChannelEnd::Lost(e)) | Err(e) => e,
            };
            self.spec.stats.ready.store(false, Ordering::Relaxed);
            let delay = backoff.next_delay();
            self.report_lost(&err, &backoff, delay, consumed);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.spec.shutdown.cancelled() => return,
            }
            self.spec.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Logs why the consumer is not consuming; `consumed`: whether it ever
    /// had a channel (else it is still connecting).
    fn report_lost(
        &self,
        err: &BrokerError,
        backoff: &Backoff,
        delay: std::time::Duration,
        consumed: bool,
    ) {
        let route = self.spec.route;
        let attempt = backoff.attempt();
        let retry_in_ms = delay.as_millis() as u64;
        match err.kind {
            BrokerErrorKind::QueueNotFound => tracing::error!(
                route, attempt, retry_in_ms, error = %err,
                "route is not ready: create the queue, or set `declare = true` on the route"
            ),
            BrokerErrorKind::ExchangeNotFound => tracing::error!(
                route, attempt, retry_in_ms, error = %err,
                "route is not ready: create the exchange, or set `declare = true` on the route"
            ),
            BrokerErrorKind::Refused => tracing::error!(
                route, broker = %self.broker.describe(), attempt, retry_in_ms, error = %err,
                "route is not ready: the broker refused its setup (queue arguments that differ from the existing queue's, or permissions); retrying"
            ),
            _ if !consumed => tracing::warn!(
                route, broker = %self.broker.describe(), attempt, retry_in_ms, error = %err,
                "consumer connecting: the broker does not answer yet"
            ),
            _ => tracing::warn!(
                route, broker = %self.broker.describe(), attempt, retry_in_ms, error = %err,
                "consumer lost its channel; reconnecting"
            ),
        }
    }

    /// Opens a channel and subscribes on it; the channel is kept in
    /// `opened` as soon as it exists, so that a setup given up on can still
    /// close it.
    async fn setup(
        &self,
        consumed: &mut bool,
        opened: &Mutex<Option<Arc<B::Channel>>>,
    ) -> Result<(Arc<B::Channel>, <B::Channel as Channel>::Deliveries), BrokerError> {
        let channel = Arc::new(self.broker.channel().await?);
        *consumed = true;
        *lock(opened) = Some(channel.clone());
        match self.subscribe(&channel).await {
            Ok(d) => Ok((channel, d)),
            Err(e) => {
                lock(opened).take();
                channel.close().await;
                Err(e)
            }
        }
    }

    /// Opens a channel and consumes on it until shutdown or a failure. The
    /// setup gives way to shutdown, and fails after [`SETUP_TIMEOUT`].
    async fn consume_once(
        &self,
        backoff: &mut Backoff,
        consumed: &mut bool,
    ) -> Result<ChannelEnd, BrokerError> {
        let opened = Mutex::new(None);
        let setup = tokio::time::timeout(SETUP_TIMEOUT, self.setup(consumed, &opened));
        let ended = tokio::select! {
            r = setup => match r {
                Ok(r) => Ok(r),
                Err(_) => Err(Some(BrokerError::connection(format!(
                    "the broker did not complete the consumer's setup (channel, queues, basic.consume) within {}s",
                    SETUP_TIMEOUT.as_secs()
                )))),
            },
            _ = self.spec.shutdown.cancelled() => Err(None),
        };
        let (channel, deliveries) = match ended {
            Ok(r) => r?,
            Err(reason) => {
                if let Some(channel) = lock(&opened).take() {
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(SETUP_TIMEOUT, channel.close()).await;
                    });
                }
                return reason.map_or(Ok(ChannelEnd::Shutdown), Err);
            }
        };
        self.spec.stats.ready.store(true, Ordering::Relaxed);
        if !self.version_warned.swap(true, Ordering::Relaxed) {
            for warning in super::versioned::warnings(&self.spec, self.broker.version()) {
                tracing::warn!(route = self.spec.route, "{warning}");
            }
        }
        if backoff.attempt() > 0 {
            tracing::info!(route = self.spec.route, "consumer is back");
        }
        backoff.reset();
        tracing::debug!(
            route = self.spec.route,
            queues = ?self.spec.queues,
            bulk_size = self.spec.batching.bulk_size,
            prefetch = self.spec.prefetch,
            "consuming"
        );
        let mut run = self.start_run(channel, deliveries);
        match self.consume(&mut run).await {
            ChannelEnd::Shutdown => {
                self.drain_and_stop(run).await;
                Ok(ChannelEnd::Shutdown)
            }
            ChannelEnd::Lost(e) => {
                self.abandon(run).await;
                Ok(ChannelEnd::Lost(e))
            }
        }
    }

    /// Checks (or declares) the queues, sets the prefetch, starts consuming.
    async fn subscribe(
        &self,
        channel: &B::Channel,
    ) -> Result<<B::Channel as Channel>::Deliveries, BrokerError> {
        let queues = self.spec.consumed_queues();
        super::topology::prepare_queues(&self.spec, channel, &queues).await?;
        channel.qos(self.spec.prefetch).await?;
        let consumer_tag = format!("worker.{}", self.spec.route);
        let options = super::versioned::consume_options(&self.spec, self.broker.version());
        channel.consume_with(&queues, &consumer_tag, &options).await
    }

    fn start_run(
        &self,
        channel: Arc<B::Channel>,
        deliveries: <B::Channel as Channel>::Deliveries,
    ) -> ChannelRun<B> {
        let spec = &self.spec;
        let single_active = spec.declare.as_ref().is_some_and(|o| o.single_active);
        let standby = Watch::start(
            spec.route,
            single_active,
            spec.queues,
            &channel,
            &spec.stats,
        );
        let settler = Settler::new(
            spec.route,
            channel.clone(),
            spec.policy,
            spec.queues,
            &spec.stats,
        );
        ChannelRun {
            channel,
            deliveries,
            batcher: Batcher::new(spec.batching.bulk_size, spec.batching.bulk_flush_interval),
            in_flight: Vec::new(),
            permits: Arc::new(Semaphore::new(spec.batching.max_concurrency)),
            tasks: BatchTasks::new(spec.batching.max_concurrency),
            settler: Arc::new(settler),
            standby,
            early: None,
        }
    }

    /// `d`, with the count of its failed deliveries made explicit on a
    /// quorum queue the route declares: RabbitMQ 4.3 omits
    /// `x-delivery-count` on a message that was returned without being
    /// counted (`basic.nack`), as 4.x does on a first delivery (3.10 sends
    /// 0), so a redelivery without the header gets 0, and
    /// `delivery_count()` says 1 on every version. A broadcast route's
    /// deliveries get the route's queue name instead of the process's own
    /// queue (metrics, outcomes, `Message::queue`).
    pub(super) fn counted(&self, mut d: Delivery) -> Delivery {
        if let Some(b) = &self.spec.broadcast {
            d.queue = b.label.clone();
        }
        let quorum = self.spec.declare.as_ref().is_some_and(|o| o.quorum);
        if quorum && d.redelivered && !d.properties.headers.contains_key(DELIVERY_COUNT_HEADER) {
            d.properties
                .headers
                .insert(DELIVERY_COUNT_HEADER.to_owned(), AmqpValue::Int(0));
        }
        d
    }

    /// Receives and dispatches until shutdown or a failure.
    async fn consume(&self, run: &mut ChannelRun<B>) -> ChannelEnd {
        let end = loop {
            let reason = tokio::select! {
                biased;
                _ = self.spec.shutdown.cancelled() => break ChannelEnd::Shutdown,
                // The batches in flight first: under a steady stream of
                // deliveries a handler must not wait for the stream to
                // pause (or the next batch to fill) to make progress.
                Some(_) = run.tasks.join_next(), if !run.tasks.is_empty() => continue,
                next = next_delivery(&mut run.early, &mut run.deliveries) => match next {
                    Some(Ok(d)) => {
                        run.standby.delivered();
                        let full = run.batcher.push(self.counted(d));
                        self.spec.stats.buffered.store(run.batcher.len() as u64, Ordering::Relaxed);
                        if full {
                            FlushReason::Size
                        } else if run.batcher.is_due() {
                            // Deliveries keep arriving: the deadline is
                            // kept without waiting for the stream to pause.
                            FlushReason::Deadline
                        } else {
                            continue;
                        }
                    }
                    Some(Err(e)) => break self.lost(e),
                    None => break self.lost(BrokerError::closed("the consumer's stream ended")),
                },
                _ = run.batcher.deadline(), if run.batcher.is_armed() => FlushReason::Deadline,
            };
            let deadline = run
                .batcher
                .deadline_at()
                .filter(|_| reason == FlushReason::Deadline);
            let permit = match self.slot_or_shutdown(run).await {
                Slot::Free(permit) => permit,
                Slot::Shutdown => break ChannelEnd::Shutdown,
                Slot::Lost(e) => break self.lost(e),
            };
            if let Some(deadline) = deadline {
                // How late the deadline flush is (time waiting for a batch
                // slot included): `worker_batch_flush_delay_seconds`.
                let late = tokio::time::Instant::now().saturating_duration_since(deadline);
                self.spec.stats.flush_delay.observe(late);
            }
            if !self.dispatch(permit, reason, run).await {
                break ChannelEnd::Lost(BrokerError::closed("a settlement failed on this channel"));
            }
        };
        self.spec.stats.ready.store(false, Ordering::Relaxed);
        end
    }

    /// The channel is gone: its tags are void. The broker redelivers every
    /// unsettled message, so nothing buffered or in flight is settled on a
    /// later channel.
    async fn abandon(&self, mut run: ChannelRun<B>) {
        // Detached first: a batch polled by this task may hold the
        // settler's lock.
        run.tasks.detach_all();
        run.settler.invalidate().await;
        self.spec.stats.buffered.store(0, Ordering::Relaxed);
        run.channel.close().await;
    }

    fn calls(&self) -> Calls {
        Calls {
            route: self.spec.route,
            handler: self.spec.handler,
            app: self.spec.app.clone(),
            stats: self.spec.stats.clone(),
            timeout: self.spec.timeout,
            bisect: self.spec.bisect,
        }
    }

    /// The channel's end on a stream error (or its end), counted when the
    /// broker cancelled the consumer.
    fn lost(&self, e: BrokerError) -> ChannelEnd {
        if matches!(
            e.kind,
            BrokerErrorKind::Cancelled | BrokerErrorKind::QueueNotFound
        ) {
            self.spec.stats.cancelled.fetch_add(1, Ordering::Relaxed);
        }
        ChannelEnd::Lost(e)
    }

    /// Waits for a free batch slot, or until shutdown starts, watching the
    /// channel meanwhile ([`slot::wait`]).
    async fn slot_or_shutdown(&self, run: &mut ChannelRun<B>) -> Slot {
        slot::wait(
            &mut run.tasks,
            &run.permits,
            &*run.channel,
            &mut run.deliveries,
            &mut run.early,
            &self.spec.shutdown,
        )
        .await
    }

    /// Hands the waiting messages to the handler in a task holding
    /// `permit`; `false` (and nothing handed over) when a settlement already
    /// failed on this channel.
    pub(super) async fn dispatch(
        &self,
        permit: OwnedSemaphorePermit,
        reason: FlushReason,
        run: &mut ChannelRun<B>,
    ) -> bool {
        // A settled batch nobody holds any more lends its allocations
        // (state and buffer) to this one.
        let mut recycled = run.recycle();
        let spare = recycled
            .as_mut()
            .and_then(Arc::get_mut)
            .map(|b| std::mem::take(&mut b.deliveries))
            .unwrap_or_default();
        let deliveries = run.batcher.take_replacing(spare);
        let stats = &self.spec.stats;
        stats.buffered.store(0, Ordering::Relaxed);
        let settler = run.settler.clone();
        if !run.tasks.drive(settler.hold(&deliveries)).await {
            // The channel is gone: the broker redelivers these messages.
            return false;
        }
        reason.count(stats);
        stats.in_flight.fetch_add(1, Ordering::Relaxed);

        let lease = settler.lease().clone();
        let batch = match recycled {
            Some(shared) => Batch::reusing(shared, self.spec.route, deliveries, lease),
            None => Batch::leased(self.spec.route, deliveries, lease),
        };
        let shared = batch.shared.clone();
        run.in_flight.push(shared.clone());
        let calls = self.calls();
        // With tracing on, the batch's `process` span (else a no-op).
        let span = crate::otel::batch_span(self.spec.route, &shared.deliveries);
        let task = async move {
            let resolved = calls.resolve(batch, reason).await;
            let tally = settler
                .settle(&shared.deliveries, |i| resolved.resolution(i))
                .await;
            crate::otel::record_settled(&tracing::Span::current(), &tally);
            shared.finish();
            calls.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        };
        run.tasks.spawn(task.instrument(span));
        true
    }
}
