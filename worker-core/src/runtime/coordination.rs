//! What `cron` routes keep on the broker of their connection: the lock
//! of a `singleton` route (an exclusive queue) and the last fired slot of
//! a `catch_up` route (a one-message queue).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::broker::{Broker, Channel, Deliveries, Properties, QueueOptions};
use crate::future::BoxFuture;
use crate::schedule::{SlotLock, SlotState};

/// A [`SlotLock`] on a broker: the exclusive queue `queue`, declared on a
/// channel that the holder keeps open (its connection's loss deletes the
/// queue and frees the lock).
pub(super) struct ExclusiveLock<B: Broker> {
    broker: Arc<B>,
    queue: String,
    held: tokio::sync::Mutex<Option<B::Channel>>,
}

impl<B: Broker> SlotLock for ExclusiveLock<B> {
    fn hold(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let mut held = self.held.lock().await;
            if let Some(ch) = held.as_ref() {
                if ch.check_queue(&self.queue).await.is_ok() {
                    return true;
                }
                // The channel (or its connection) is gone: so is the lock.
                if let Some(ch) = held.take() {
                    ch.close().await;
                }
            }
            let Ok(ch) = self.broker.channel().await else {
                return false;
            };
            let options = QueueOptions {
                exclusive: true,
                ..QueueOptions::default()
            };
            match ch.declare_queue(&self.queue, &options).await {
                Ok(()) => {
                    tracing::info!(queue = %self.queue, "took the singleton lock: this process fires the slots");
                    *held = Some(ch);
                    true
                }
                Err(_) => {
                    ch.close().await;
                    false
                }
            }
        })
    }
}

impl<B: Broker> ExclusiveLock<B> {
    pub(super) fn new(broker: Arc<B>, queue: String) -> Self {
        ExclusiveLock {
            broker,
            queue,
            held: tokio::sync::Mutex::new(None),
        }
    }
}

/// How long reading the last slot waits for the queue's message.
const READ_WAIT: Duration = Duration::from_millis(500);

/// A [`SlotState`] on a broker: the durable queue `queue` with
/// `x-max-length = 1` holds the last fired slot (RFC 3339, UTC).
pub(super) struct BrokerSlotState<B: Broker> {
    broker: Arc<B>,
    queue: String,
}

impl<B: Broker> BrokerSlotState<B> {
    pub(super) fn new(broker: Arc<B>, queue: String) -> Self {
        BrokerSlotState { broker, queue }
    }

    fn options() -> QueueOptions {
        QueueOptions {
            max_length: Some(1),
            ..QueueOptions::durable()
        }
    }

    async fn read(&self) -> Result<Option<DateTime<Utc>>, crate::error::BrokerError> {
        let ch = self.broker.channel().await?;
        ch.declare_queue(&self.queue, &Self::options()).await?;
        let mut deliveries = ch
            .consume(&[self.queue.as_str()], "worker.cron.state")
            .await?;
        let last = match tokio::time::timeout(READ_WAIT, deliveries.next()).await {
            Ok(Some(Ok(d))) => {
                // Put back: it stays the record until the next slot fires.
                let _ = ch.nack(d.tag, false, true).await;
                std::str::from_utf8(&d.body)
                    .ok()
                    .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
                    .map(|t| t.with_timezone(&Utc))
            }
            _ => None,
        };
        ch.close().await;
        Ok(last)
    }

    async fn write(&self, slot: DateTime<Utc>) -> Result<(), crate::error::BrokerError> {
        let ch = self.broker.channel().await?;
        ch.declare_queue(&self.queue, &Self::options()).await?;
        let properties = Properties {
            delivery_mode: Some(2),
            ..Properties::default()
        };
        let sent = ch
            .publish("", &self.queue, slot.to_rfc3339().as_bytes(), &properties)
            .await;
        ch.close().await;
        sent
    }
}

impl<B: Broker> SlotState for BrokerSlotState<B> {
    fn last(&self) -> BoxFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(async move {
            self.read().await.unwrap_or_else(|e| {
                tracing::warn!(queue = %self.queue, error = %e, "cannot read the last fired slot; not catching up");
                None
            })
        })
    }

    fn record(&self, slot: DateTime<Utc>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = self.write(slot).await {
                tracing::warn!(queue = %self.queue, error = %e, "cannot record the fired slot");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBroker;

    #[tokio::test]
    async fn the_last_slot_is_one_message_that_stays() {
        let broker = Arc::new(MemoryBroker::new());
        let state = BrokerSlotState::new(broker.clone(), "worker.cron.r.last".into());
        assert_eq!(state.last().await, None);
        let (t1, t2): (DateTime<Utc>, DateTime<Utc>) = (
            "2026-12-01T09:00:00Z".parse().unwrap(),
            "2026-12-01T10:00:00Z".parse().unwrap(),
        );
        state.record(t1).await;
        state.record(t2).await;
        assert_eq!(state.last().await, Some(t2));
        assert_eq!(state.last().await, Some(t2), "reading keeps it");
        let stats = broker.stats("worker.cron.r.last").unwrap();
        assert_eq!(
            (stats.ready, stats.unacked),
            (1, 0),
            "x-max-length 1: {stats:?}"
        );
    }

    #[tokio::test]
    async fn one_channel_holds_the_lock_until_it_goes() {
        let broker = Arc::new(MemoryBroker::new());
        let a = ExclusiveLock::new(broker.clone(), "worker.cron.r.lock".into());
        let b = ExclusiveLock::new(broker.clone(), "worker.cron.r.lock".into());
        assert!(a.hold().await);
        assert!(!b.hold().await, "held elsewhere");
        assert!(a.hold().await, "still held");
        drop(a);
        assert!(b.hold().await, "taken over");
    }
}
