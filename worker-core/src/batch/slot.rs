//! Waiting for a batch slot while batches run, with the channel watched.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::tasks::BatchTasks;
use crate::broker::{Channel, Deliveries, Delivery};
use crate::error::BrokerError;

/// How often a consumer waiting for a batch slot checks that its channel
/// is open.
const OPEN_CHECK: Duration = Duration::from_millis(100);

/// What waiting for a batch slot ended with.
pub(super) enum Slot {
    Free(OwnedSemaphorePermit),
    Shutdown,
    Lost(BrokerError),
}

/// Waits for a free batch slot, or until `shutdown` (the waiting messages
/// are then handled by the shutdown path), driving the batches. Meanwhile
/// the channel is checked every [`OPEN_CHECK`] and the stream watched, so
/// that a lost channel is noticed at once, not when a batch ends: the
/// batches in flight then lose their ownership (`Message::is_owned`) while
/// they run. One delivery received meanwhile is set aside in `early` for
/// the next batch; the stream is not read further until it is taken.
pub(super) async fn wait<C: Channel>(
    tasks: &mut BatchTasks,
    permits: &Arc<Semaphore>,
    channel: &C,
    deliveries: &mut C::Deliveries,
    early: &mut Option<Delivery>,
    shutdown: &CancellationToken,
) -> Slot {
    tasks
        .drive(async {
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return Slot::Shutdown,
                    permit = slot(permits) => return Slot::Free(permit),
                    () = tokio::time::sleep(OPEN_CHECK) => if !channel.is_open() {
                        return Slot::Lost(BrokerError::connection(
                            "the channel was lost while its batches ran",
                        ));
                    },
                    next = deliveries.next(), if early.is_none() => match next {
                        Some(Ok(d)) => *early = Some(d),
                        Some(Err(e)) => return Slot::Lost(e),
                        None => return Slot::Lost(BrokerError::closed("the consumer's stream ended")),
                    },
                }
            }
        })
        .await
}

/// The delivery set aside while waiting for a slot, else the stream's next.
pub(super) async fn next_delivery<D: Deliveries>(
    early: &mut Option<Delivery>,
    deliveries: &mut D,
) -> Option<Result<Delivery, BrokerError>> {
    if let Some(d) = early.take() {
        return Some(Ok(d));
    }
    deliveries.next().await
}

/// Waits for a free batch slot (`max_concurrency`).
pub(super) async fn slot(permits: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    permits
        .clone()
        .acquire_owned()
        .await
        .expect("the batch semaphore is never closed")
}
