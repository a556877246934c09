//! What the runtime keeps on a broker besides messages: the lock of a
//! `singleton` cron route (an exclusive queue) and single values that
//! survive restarts (one-message queues: a `catch_up` route's last fired
//! slot, an `sse` route's resume point).

use std::sync::Arc;
use std::time::Duration;

use crate::broker::{
    Broker, Channel, Deliveries, Hold, Properties, QueueOptions, Record, SlotLock,
};
use crate::error::{BrokerError, BrokerErrorKind};
use crate::future::BoxFuture;

/// A [`SlotLock`] on a broker: the exclusive queue `queue`, declared on a
/// channel that the holder keeps open (its connection's loss deletes the
/// queue and frees the lock).
pub(super) struct ExclusiveLock<B: Broker> {
    broker: Arc<B>,
    queue: String,
    held: tokio::sync::Mutex<Option<B::Channel>>,
}

impl<B: Broker> SlotLock for ExclusiveLock<B> {
    fn hold(&self) -> BoxFuture<'_, Hold> {
        Box::pin(async move {
            let mut held = self.held.lock().await;
            if let Some(ch) = held.as_ref() {
                if ch.check_queue(&self.queue).await.is_ok() {
                    return Hold::Mine;
                }
                // The channel (or its connection) is gone: so is the lock.
                if let Some(ch) = held.take() {
                    ch.close().await;
                }
            }
            let ch = match self.broker.channel().await {
                Ok(ch) => ch,
                Err(e) => return Hold::Unreachable(e.message),
            };
            let options = QueueOptions {
                exclusive: true,
                ..QueueOptions::default()
            };
            match ch.declare_queue(&self.queue, &options).await {
                Ok(()) => {
                    tracing::info!(queue = %self.queue, "took the singleton lock: this process fires the slots");
                    *held = Some(ch);
                    Hold::Mine
                }
                // Another connection's exclusive queue: RESOURCE_LOCKED.
                Err(e) if e.kind == BrokerErrorKind::Refused => {
                    ch.close().await;
                    Hold::Elsewhere
                }
                Err(e) => {
                    ch.close().await;
                    Hold::Unreachable(e.message)
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

/// How long reading a record waits for the queue's message.
const READ_WAIT: Duration = Duration::from_millis(500);

/// How a record's queue is declared: durable, one message.
pub(crate) fn record_options() -> QueueOptions {
    QueueOptions {
        max_length: Some(1),
        ..QueueOptions::durable()
    }
}

/// A [`Record`] on a broker: the durable queue `queue` with
/// `x-max-length = 1` holds the value as its one message.
pub(super) struct QueueRecord<B: Broker> {
    broker: Arc<B>,
    queue: String,
}

impl<B: Broker> QueueRecord<B> {
    pub(super) fn new(broker: Arc<B>, queue: String) -> Self {
        QueueRecord { broker, queue }
    }

    async fn read_value(&self) -> Result<Option<String>, BrokerError> {
        let ch = self.broker.channel().await?;
        ch.declare_queue(&self.queue, &record_options()).await?;
        let mut deliveries = ch.consume(&[self.queue.as_str()], "worker.record").await?;
        let value = match tokio::time::timeout(READ_WAIT, deliveries.next()).await {
            Ok(Some(Ok(d))) => {
                // Put back: it stays the record until the next store.
                let _ = ch.nack(d.tag, false, true).await;
                Some(String::from_utf8_lossy(&d.body).into_owned())
            }
            Ok(Some(Err(e))) => {
                ch.close().await;
                return Err(e);
            }
            _ => None,
        };
        ch.close().await;
        Ok(value)
    }

    async fn store_value(&self, value: String) -> Result<(), BrokerError> {
        let ch = self.broker.channel().await?;
        ch.declare_queue(&self.queue, &record_options()).await?;
        let properties = Properties {
            delivery_mode: Some(2),
            ..Properties::default()
        };
        let sent = ch
            .publish("", &self.queue, value.as_bytes(), &properties)
            .await;
        ch.close().await;
        sent
    }
}

impl<B: Broker> Record for QueueRecord<B> {
    fn read(&self) -> BoxFuture<'_, Result<Option<String>, BrokerError>> {
        Box::pin(self.read_value())
    }

    fn store(&self, value: String) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(self.store_value(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBroker;

    #[tokio::test]
    async fn a_record_is_one_message_that_stays() {
        let broker = Arc::new(MemoryBroker::new());
        let state = QueueRecord::new(broker.clone(), "worker.cron.r.last".into());
        assert_eq!(state.read().await.unwrap(), None);
        state.store("2026-12-01T09:00:00Z".into()).await.unwrap();
        state.store("2026-12-01T10:00:00Z".into()).await.unwrap();
        let last = Some("2026-12-01T10:00:00Z".to_owned());
        assert_eq!(state.read().await.unwrap(), last);
        assert_eq!(state.read().await.unwrap(), last, "reading keeps it");
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
        assert_eq!(a.hold().await, Hold::Mine);
        assert_eq!(b.hold().await, Hold::Elsewhere, "held elsewhere");
        assert_eq!(a.hold().await, Hold::Mine, "still held");
        drop(a);
        assert_eq!(b.hold().await, Hold::Mine, "taken over");
    }
}
