//! The batching consumer of an `amqp` route, generic over [`Broker`].
//!
//! One consumer owns one channel per connection attempt ("session"): it
//! checks (or declares) the route's queues, sets the prefetch, consumes every
//! queue of the route into one batch, and hands batches to the handler when
//! they reach their size or their flush deadline (measured from the first
//! message of the partial batch). Up to `max_concurrency` batches run at
//! once. When the channel is lost, the consumer reconnects with capped
//! exponential backoff; messages of the lost channel are redelivered by the
//! broker and never settled on the new one.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::backoff::Backoff;
use crate::broker::{Broker, Channel, Deliveries, QueueOptions};
use crate::error::{BrokerError, BrokerErrorKind};
use crate::message::{Batch, BatchShared, Delivery};
use crate::registry::{AmqpOptions, BatchHandlerFn};
use crate::settler::Settler;
use crate::stats::{FlushReason, RouteStats};
use crate::task::run_guarded;

/// The resolved settings of one consumer.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSettings {
    /// Effective batch size: `min(bulk_size, prefetch)`.
    pub bulk_size: usize,
    /// Flush deadline of a partial batch.
    pub flush_interval: Duration,
    /// Prefetch window of the channel.
    pub prefetch: u16,
    /// Batches in flight.
    pub max_concurrency: usize,
    /// Time given to in-flight batches at shutdown.
    pub shutdown_timeout: Duration,
    /// First reconnect delay.
    pub reconnect_base: Duration,
    /// Reconnect delay cap.
    pub reconnect_cap: Duration,
}

/// The consumer of one `amqp` route.
pub struct Consumer<B: Broker> {
    pub(crate) name: &'static str,
    pub(crate) options: AmqpOptions,
    pub(crate) handler: BatchHandlerFn,
    pub(crate) settings: ConsumerSettings,
    pub(crate) broker: Arc<B>,
    pub(crate) app: App,
    pub(crate) stats: Arc<RouteStats>,
    pub(crate) shutdown: CancellationToken,
}

enum SessionEnd {
    Shutdown,
    Lost(BrokerError),
}

struct Accumulator {
    pending: Vec<Delivery>,
    deadline: Option<Instant>,
    /// Batches handed to the handler whose handler may still run (pruned
    /// at each dispatch; at most `max_concurrency` + 1 entries).
    in_flight: Vec<Arc<BatchShared>>,
}

impl<B: Broker> Consumer<B> {
    /// Builds a consumer; [`run`](Consumer::run) drives it until shutdown.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &'static str,
        options: AmqpOptions,
        handler: BatchHandlerFn,
        settings: ConsumerSettings,
        broker: Arc<B>,
        app: App,
        stats: Arc<RouteStats>,
        shutdown: CancellationToken,
    ) -> Self {
        Consumer {
            name,
            options,
            handler,
            settings,
            broker,
            app,
            stats,
            shutdown,
        }
    }

    /// Consumes until shutdown, reconnecting after failures.
    pub async fn run(self) {
        let mut backoff = Backoff::new(self.settings.reconnect_base, self.settings.reconnect_cap);
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            let err = match self.session(&mut backoff).await {
                Ok(SessionEnd::Shutdown) => return,
                Ok(SessionEnd::Lost(e)) | Err(e) => e,
            };
            self.stats.ready.store(false, Ordering::Relaxed);
            let delay = backoff.next_delay();
            if err.kind == BrokerErrorKind::QueueNotFound {
                tracing::error!(
                    route = self.name,
                    attempt = backoff.attempt(),
                    retry_in_ms = delay.as_millis() as u64,
                    error = %err,
                    "route is not ready: create the queue, or set `declare = true` on the route"
                );
            } else if err.kind == BrokerErrorKind::Refused {
                tracing::error!(
                    route = self.name,
                    broker = %self.broker.describe(),
                    attempt = backoff.attempt(),
                    retry_in_ms = delay.as_millis() as u64,
                    error = %err,
                    "route is not ready: the broker refused its setup (queue arguments that differ from the existing queue's, or permissions); retrying"
                );
            } else {
                tracing::warn!(
                    route = self.name,
                    broker = %self.broker.describe(),
                    attempt = backoff.attempt(),
                    retry_in_ms = delay.as_millis() as u64,
                    error = %err,
                    "consumer lost its channel; reconnecting"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.cancelled() => return,
            }
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn prepare_queues(&self, channel: &B::Channel) -> Result<(), BrokerError> {
        for queue in self.options.queues {
            if self.options.declare {
                let opts = QueueOptions {
                    durable: true,
                    quorum: self.options.quorum,
                    ..Default::default()
                };
                channel.declare_queue(queue, &opts).await?;
            } else {
                channel.check_queue(queue).await.map_err(|e| {
                    if e.kind == BrokerErrorKind::QueueNotFound {
                        BrokerError::queue_not_found(queue)
                    } else {
                        e
                    }
                })?;
            }
        }
        if let Some(dlq) = self.options.dead_letter {
            if let Err(e) = channel.check_queue(dlq).await {
                if e.kind != BrokerErrorKind::QueueNotFound {
                    return Err(e);
                }
                channel.declare_queue(dlq, &QueueOptions::durable()).await?;
            }
        }
        Ok(())
    }

    async fn session(&self, backoff: &mut Backoff) -> Result<SessionEnd, BrokerError> {
        let channel = Arc::new(self.broker.channel().await?);
        let result = self.consume_on(&channel, backoff).await;
        if result.is_err() {
            channel.close().await;
        }
        result
    }

    async fn consume_on(
        &self,
        channel: &Arc<B::Channel>,
        backoff: &mut Backoff,
    ) -> Result<SessionEnd, BrokerError> {
        self.prepare_queues(channel).await?;
        channel.qos(self.settings.prefetch).await?;
        let consumer_tag = format!("worker.{}", self.name);
        let mut deliveries = channel.consume(self.options.queues, &consumer_tag).await?;
        self.stats.ready.store(true, Ordering::Relaxed);
        if backoff.attempt() > 0 {
            tracing::info!(route = self.name, "consumer is back");
        }
        backoff.reset();
        tracing::debug!(
            route = self.name,
            queues = ?self.options.queues,
            bulk_size = self.settings.bulk_size,
            prefetch = self.settings.prefetch,
            "consuming"
        );

        let settler = Arc::new(Settler::new(
            self.name,
            channel.clone(),
            self.options,
            self.stats.clone(),
        ));
        let permits = Arc::new(Semaphore::new(self.settings.max_concurrency));
        let mut tasks = JoinSet::new();
        let mut acc = Accumulator {
            pending: Vec::with_capacity(self.settings.bulk_size),
            deadline: None,
            in_flight: Vec::new(),
        };

        // One timer for the whole session, re-armed by the first message of
        // each partial batch.
        let flush_timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(flush_timer);
        let end = loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break SessionEnd::Shutdown,
                next = deliveries.next() => match next {
                    Some(Ok(d)) => {
                        acc.pending.push(d);
                        if acc.pending.len() == 1 {
                            let deadline = Instant::now() + self.settings.flush_interval;
                            acc.deadline = Some(deadline);
                            flush_timer.as_mut().reset(deadline);
                        }
                        self.stats.buffered.store(acc.pending.len(), Ordering::Relaxed);
                        if acc.pending.len() >= self.settings.bulk_size {
                            let Some(permit) = self.slot_or_shutdown(&permits).await else {
                                break SessionEnd::Shutdown;
                            };
                            if !self.dispatch_with(permit, FlushReason::Size, &mut acc, &mut tasks, &settler).await {
                                break SessionEnd::Lost(BrokerError::closed("a settlement failed on this channel"));
                            }
                        }
                    }
                    Some(Err(e)) => break SessionEnd::Lost(e),
                    None => break SessionEnd::Lost(BrokerError::closed("the broker cancelled the consumer")),
                },
                _ = &mut flush_timer, if acc.deadline.is_some() => {
                    let Some(permit) = self.slot_or_shutdown(&permits).await else {
                        break SessionEnd::Shutdown;
                    };
                    if !self.dispatch_with(permit, FlushReason::Deadline, &mut acc, &mut tasks, &settler).await {
                                break SessionEnd::Lost(BrokerError::closed("a settlement failed on this channel"));
                            }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        };
        self.stats.ready.store(false, Ordering::Relaxed);

        match end {
            SessionEnd::Shutdown => {
                self.drain_and_stop(
                    channel,
                    &mut deliveries,
                    acc,
                    &permits,
                    &mut tasks,
                    &settler,
                )
                .await;
                Ok(SessionEnd::Shutdown)
            }
            SessionEnd::Lost(e) => {
                // Tags of this channel are void: the broker redelivers every
                // unsettled message, so nothing buffered or in flight is
                // settled on a later channel.
                settler.invalidate().await;
                self.stats.buffered.store(0, Ordering::Relaxed);
                tasks.detach_all();
                channel.close().await;
                Ok(SessionEnd::Lost(e))
            }
        }
    }

    /// Graceful shutdown: cancel the consumers, hand what was received
    /// (including the partial batch) to the handler, wait for in-flight
    /// batches up to the shutdown timeout, settle, close the channel.
    async fn drain_and_stop(
        &self,
        channel: &Arc<B::Channel>,
        deliveries: &mut <B::Channel as Channel>::Deliveries,
        mut acc: Accumulator,
        permits: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
        settler: &Arc<Settler<B::Channel>>,
    ) {
        let deadline = Instant::now() + self.settings.shutdown_timeout;
        if let Err(e) = channel.cancel().await {
            tracing::debug!(route = self.name, error = %e, "basic.cancel failed");
        }
        // Deliveries already on their way arrive before the stream ends.
        // Dispatching waits for a free batch slot, never past the deadline:
        // what could not be handed over is requeued below.
        let drain_until = deadline.min(Instant::now() + Duration::from_secs(2));
        let mut out_of_time = false;
        while let Ok(Some(Ok(d))) = tokio::time::timeout_at(drain_until, deliveries.next()).await {
            acc.pending.push(d);
            if acc.pending.len() >= self.settings.bulk_size {
                match tokio::time::timeout_at(deadline, Self::slot(permits)).await {
                    Ok(permit) => {
                        if !self
                            .dispatch_with(permit, FlushReason::Size, &mut acc, tasks, settler)
                            .await
                        {
                            break;
                        }
                    }
                    Err(_) => {
                        out_of_time = true;
                        break;
                    }
                }
            }
        }
        if !out_of_time && !acc.pending.is_empty() {
            match tokio::time::timeout_at(deadline, Self::slot(permits)).await {
                Ok(permit) => {
                    // `false`: the channel is gone and the broker redelivers.
                    let _ = self
                        .dispatch_with(permit, FlushReason::Shutdown, &mut acc, tasks, settler)
                        .await;
                }
                Err(_) => out_of_time = true,
            }
        }
        let finished = !out_of_time
            && tokio::time::timeout_at(deadline, async {
                while tasks.join_next().await.is_some() {}
            })
            .await
            .is_ok();
        if !finished {
            let n = tasks.len();
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            let waiting = acc.pending.len();
            settler.count_requeued(
                acc.pending.iter().chain(
                    acc.in_flight
                        .iter()
                        .filter(|b| !b.is_sealed())
                        .flat_map(|b| b.deliveries.iter()),
                ),
            );
            settler.hold(&acc.pending).await;
            self.stats.buffered.store(0, Ordering::Relaxed);
            let requeued = settler.requeue_outstanding().await;
            tracing::warn!(
                route = self.name,
                batches = n,
                not_handed_over = waiting,
                messages = requeued,
                timeout_ms = self.settings.shutdown_timeout.as_millis() as u64,
                "batches did not finish within WORKER_SHUTDOWN_TIMEOUT; their messages were requeued"
            );
        }
        channel.close().await;
    }

    /// Waits for a free batch slot, or `None` once shutdown starts (the
    /// waiting messages are then handled by the shutdown path).
    async fn slot_or_shutdown(&self, permits: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => None,
            permit = Self::slot(permits) => Some(permit),
        }
    }

    /// Waits for a free batch slot (`max_concurrency`).
    async fn slot(permits: &Arc<Semaphore>) -> OwnedSemaphorePermit {
        permits
            .clone()
            .acquire_owned()
            .await
            .expect("the batch semaphore is never closed")
    }

    /// Hands the accumulated messages to the handler in a task holding
    /// `permit`; `false` (and nothing handed over) when a settlement already
    /// failed on this channel.
    async fn dispatch_with(
        &self,
        permit: OwnedSemaphorePermit,
        reason: FlushReason,
        acc: &mut Accumulator,
        tasks: &mut JoinSet<()>,
        settler: &Arc<Settler<B::Channel>>,
    ) -> bool {
        acc.deadline = None;
        let deliveries = std::mem::replace(
            &mut acc.pending,
            Vec::with_capacity(self.settings.bulk_size),
        );
        self.stats.buffered.store(0, Ordering::Relaxed);
        if !settler.hold(&deliveries).await {
            // The channel is gone: the broker redelivers these messages.
            return false;
        }
        self.stats.flushed(reason);
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);

        let handler = self.handler;
        let app = self.app.clone();
        let settler = settler.clone();
        let stats = self.stats.clone();
        let name = self.name;
        let size = deliveries.len();
        let batch = Batch::new(name, deliveries);
        let shared = batch.shared.clone();
        acc.in_flight.retain(|b| !b.is_sealed());
        acc.in_flight.push(shared.clone());
        tasks.spawn(async move {
            let span = tracing::info_span!(
                "batch",
                route = name,
                size,
                reason = reason.name(),
                outcome = tracing::field::Empty
            );
            let ok = run_guarded(&stats, span, handler(batch, app)).await;
            shared.seal();
            settler.settle(&shared, ok).await;
            stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
        true
    }
}
