//! Graceful shutdown of a [`Consumer`]: cancel the consumers, hand what was
//! received (the partial batch included) to the handler, wait for in-flight
//! batches up to the shutdown timeout, settle, close the channel. What
//! cannot finish in time is requeued, never dropped.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::error::Elapsed;
use tokio::time::Instant;

use super::consumer::{ChannelRun, Consumer};
use super::slot::slot;
use super::FlushReason;
use crate::broker::{Broker, Channel, Deliveries};

/// How long deliveries already on their way are awaited after `basic.cancel`.
const IN_TRANSIT: Duration = Duration::from_secs(2);

impl<B: Broker> Consumer<B> {
    /// Stops consuming on `run`'s channel without losing a message.
    pub(super) async fn drain_and_stop(&self, mut run: ChannelRun<B>) {
        let deadline = Instant::now() + self.spec.shutdown_timeout;
        if let Err(e) = run.channel.cancel().await {
            tracing::debug!(route = self.spec.route, error = %e, "basic.cancel failed");
        }
        let handed_over = self.hand_over_received(&mut run, deadline).await;
        let finished = handed_over
            && tokio::time::timeout_at(deadline, async {
                while run.tasks.join_next().await.is_some() {}
            })
            .await
            .is_ok();
        if !finished {
            self.requeue_unfinished(&mut run).await;
        }
        run.channel.close().await;
    }

    /// Dispatches the deliveries still arriving and the partial batch,
    /// waiting for batch slots, never past `deadline`. `false` when time ran
    /// out before everything was handed over.
    async fn hand_over_received(&self, run: &mut ChannelRun<B>, deadline: Instant) -> bool {
        // Deliveries already on their way arrive before the stream ends.
        let drain_until = deadline.min(Instant::now() + IN_TRANSIT);
        // A full batch that was waiting for its slot goes first, then the
        // delivery set aside meanwhile.
        let mut early = run.early.take();
        let mut full = run.batcher.len() >= self.spec.batching.bulk_size;
        loop {
            if full {
                match self.slot_until(run, deadline).await {
                    Ok(permit) => {
                        if !self.dispatch(permit, FlushReason::Size, run).await {
                            // The channel is gone: the broker redelivers.
                            return true;
                        }
                    }
                    Err(_) => {
                        // Requeued with the waiting batch.
                        if let Some(d) = early.take() {
                            run.batcher.push(self.counted(d));
                        }
                        return false;
                    }
                }
            }
            let d = match early.take() {
                Some(d) => d,
                None => match run
                    .tasks
                    .drive(tokio::time::timeout_at(drain_until, run.deliveries.next()))
                    .await
                {
                    Ok(Some(Ok(d))) => d,
                    _ => break,
                },
            };
            full = run.batcher.push(self.counted(d));
        }
        if run.batcher.is_empty() {
            return true;
        }
        match self.slot_until(run, deadline).await {
            Ok(permit) => {
                // `false`: the channel is gone and the broker redelivers.
                let _ = self.dispatch(permit, FlushReason::Shutdown, run).await;
                true
            }
            Err(_) => false,
        }
    }

    /// A batch slot, waited for while the batches run, until `deadline`.
    async fn slot_until(
        &self,
        run: &mut ChannelRun<B>,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, Elapsed> {
        let permits = run.permits.clone();
        run.tasks
            .drive(tokio::time::timeout_at(deadline, slot(&permits)))
            .await
    }

    /// The shutdown timeout passed: abort the handlers still running and
    /// requeue their messages and those never handed over.
    async fn requeue_unfinished(&self, run: &mut ChannelRun<B>) {
        let batches = run.tasks.len();
        run.tasks.abort_all();
        while run.tasks.join_next().await.is_some() {}
        let waiting = run.batcher.pending();
        run.settler.count_requeued(
            waiting.iter().chain(
                run.in_flight
                    .iter()
                    .filter(|b| !b.is_finished())
                    .flat_map(|b| b.deliveries.iter()),
            ),
        );
        run.settler.hold(waiting).await;
        let not_handed_over = waiting.len();
        self.spec.stats.buffered.store(0, Ordering::Relaxed);
        let messages = run.settler.requeue_outstanding().await;
        tracing::warn!(
            route = self.spec.route,
            batches,
            not_handed_over,
            messages,
            timeout_ms = self.spec.shutdown_timeout.as_millis() as u64,
            "batches did not finish within WORKER_SHUTDOWN_TIMEOUT; their messages were requeued"
        );
    }
}
