//! [`MemoryChannel`]: the [`Channel`] of the embedded broker.

use std::fmt;
use std::sync::Arc;

use super::deliveries::MemoryDeliveries;
use super::queue::Payload;
use super::shared::ChannelShared;
use super::state::{Inner, State};
use crate::broker::Settle;
use crate::broker::{
    Binding, Bytes, Channel, ConsumeOptions, ExchangeKind, Properties, QueueOptions,
};
use crate::error::BrokerError;

/// A channel of a [`MemoryBroker`](super::MemoryBroker).
///
/// Cheap to clone; clones are the same channel. When the last clone is
/// dropped the channel closes as with [`Channel::close`]: its unacked
/// deliveries return to the head of their queues.
#[derive(Clone)]
pub struct MemoryChannel {
    handle: Arc<Handle>,
}

struct Handle {
    inner: Arc<Inner>,
    id: u64,
    shared: Arc<ChannelShared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.lock().close_channel(self.id, None);
    }
}

impl fmt::Debug for MemoryChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryChannel")
            .field("id", &self.handle.id)
            .field("open", &!self.handle.shared.is_ended())
            .finish()
    }
}

impl MemoryChannel {
    pub(super) fn new(inner: Arc<Inner>, id: u64, shared: Arc<ChannelShared>) -> Self {
        MemoryChannel {
            handle: Arc::new(Handle { inner, id, shared }),
        }
    }

    /// Runs `op` on the broker state if this channel is still open.
    fn with_open<T>(
        &self,
        op: impl FnOnce(&mut State, u64) -> Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        let mut state = self.handle.inner.lock();
        if !state.channels.contains_key(&self.handle.id) {
            return Err(self.handle.shared.closed_error());
        }
        op(&mut state, self.handle.id)
    }

    /// Whether the channel is still open.
    pub fn is_open(&self) -> bool {
        !self.handle.shared.is_ended()
    }
}

impl Channel for MemoryChannel {
    type Deliveries = MemoryDeliveries;

    fn is_open(&self) -> bool {
        MemoryChannel::is_open(self)
    }

    async fn qos(&self, prefetch: u16) -> Result<(), BrokerError> {
        self.with_open(|state, id| {
            state.qos(id, prefetch);
            Ok(())
        })
    }

    async fn check_queue(&self, queue: &str) -> Result<(), BrokerError> {
        self.with_open(|state, _| {
            if state.queues.contains_key(queue) {
                Ok(())
            } else {
                Err(BrokerError::queue_not_found(queue))
            }
        })
    }

    async fn declare_queue(&self, queue: &str, options: &QueueOptions) -> Result<(), BrokerError> {
        self.with_open(|state, id| state.declare_queue_by(queue, options, Some(id)))
    }

    async fn declare_exchange(
        &self,
        exchange: &str,
        kind: ExchangeKind,
    ) -> Result<(), BrokerError> {
        self.with_open(|state, _| state.declare_exchange(exchange, kind))
    }

    async fn check_exchange(&self, exchange: &str) -> Result<(), BrokerError> {
        self.with_open(|state, _| state.check_exchange(exchange).map(|_| ()))
    }

    async fn bind_queue(&self, queue: &str, binding: &Binding) -> Result<(), BrokerError> {
        self.with_open(|state, _| state.bind(queue, binding.clone()))
    }

    async fn consume(
        &self,
        queues: &[&str],
        _consumer_tag: &str,
    ) -> Result<MemoryDeliveries, BrokerError> {
        self.consume_with(queues, _consumer_tag, &ConsumeOptions::default())
            .await
    }

    async fn consume_with(
        &self,
        queues: &[&str],
        _consumer_tag: &str,
        options: &ConsumeOptions,
    ) -> Result<MemoryDeliveries, BrokerError> {
        // Consumer tags only matter to AMQP clients; streams identify
        // consumers here. A consumer timeout is not modelled.
        let priority = options.priority.unwrap_or(0);
        self.with_open(|state, id| state.consume(id, queues, priority))
    }

    async fn ack(&self, tag: u64, multiple: bool) -> Result<(), BrokerError> {
        self.with_open(|state, id| state.settle(id, tag, multiple, Settle::Ack))
    }

    async fn nack(&self, tag: u64, multiple: bool, requeue: bool) -> Result<(), BrokerError> {
        let how = if requeue {
            Settle::Return
        } else {
            Settle::Reject
        };
        self.with_open(|state, id| state.settle(id, tag, multiple, how))
    }

    async fn reject(&self, tag: u64, requeue: bool) -> Result<(), BrokerError> {
        let how = if requeue {
            Settle::Requeue
        } else {
            Settle::Reject
        };
        self.with_open(|state, id| state.settle(id, tag, false, how))
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &Properties,
    ) -> Result<(), BrokerError> {
        let payload = Payload {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
            properties: properties.clone(),
            body: Bytes::copy_from_slice(body),
        };
        self.with_open(|state, _| state.publish(payload))
    }

    async fn consumer_active(&self, queue: &str) -> Option<bool> {
        self.handle
            .inner
            .lock()
            .consumer_active(self.handle.id, queue)
    }

    async fn cancel(&self) -> Result<(), BrokerError> {
        self.with_open(|state, id| {
            state.cancel(id);
            Ok(())
        })
    }

    async fn close(&self) {
        self.handle.inner.lock().close_channel(self.handle.id, None);
    }
}
