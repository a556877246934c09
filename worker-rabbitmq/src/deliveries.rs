//! The stream of deliveries of a channel's consumers.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::stream::{Stream, StreamExt};
use lapin::{ConnectionStatus, Consumer};
use worker_core::backend::broker::Deliveries;
use worker_core::backend::broker::Delivery;
use worker_core::backend::error::{BrokerError, BrokerErrorKind};

use crate::properties::from_basic;

/// The merged deliveries of every consumer of one [`RabbitChannel`](crate::RabbitChannel).
///
/// Deliveries come out in delivery-tag order across all queues of the
/// channel, as the broker sent them (the runtime coalesces acks of
/// contiguous tags). Ends (`None`) once the consumers were cancelled through
/// the channel. A lost connection or channel, or a consumer cancelled by the
/// broker (its queue was deleted), yields one error and then `None`.
pub struct RabbitDeliveries {
    consumers: Vec<QueueConsumer>,
    /// The next delivery of each consumer, already taken off its stream.
    heads: Vec<Option<Delivery>>,
    ended: Vec<bool>,
    failed: bool,
}

impl RabbitDeliveries {
    pub(crate) fn new(consumers: Vec<QueueConsumer>) -> Self {
        let n = consumers.len();
        RabbitDeliveries {
            consumers,
            heads: (0..n).map(|_| None).collect(),
            ended: vec![false; n],
            failed: false,
        }
    }

    /// Polls every consumer without a buffered head; an error is returned
    /// at once.
    fn fill_heads(&mut self, cx: &mut Context<'_>) -> Option<BrokerError> {
        for i in 0..self.consumers.len() {
            if self.heads[i].is_some() || self.ended[i] {
                continue;
            }
            match self.consumers[i].poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(delivery))) => self.heads[i] = Some(delivery),
                Poll::Ready(Some(Err(error))) => return Some(error),
                Poll::Ready(None) => self.ended[i] = true,
                Poll::Pending => {}
            }
        }
        None
    }

    fn poll_delivery(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Delivery, BrokerError>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        if let Some(error) = self.fill_heads(cx) {
            self.failed = true;
            return Poll::Ready(Some(Err(error)));
        }
        if self.heads.iter().all(Option::is_none) {
            return if self.ended.iter().all(|&ended| ended) {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        }
        // lapin hands deliveries to consumers in wire order: once a
        // delivery with tag n is visible, every smaller tag is already in
        // its consumer's buffer. A second pass picks those up, so the
        // smallest head is the next tag of the channel.
        if let Some(error) = self.fill_heads(cx) {
            self.failed = true;
            return Poll::Ready(Some(Err(error)));
        }
        let next = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, head)| head.as_ref().map(|d| (d.tag, i)))
            .min()
            .map(|(_, i)| i);
        Poll::Ready(next.and_then(|i| self.heads[i].take()).map(Ok))
    }
}

impl std::fmt::Debug for RabbitDeliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitDeliveries")
            .field("consumers", &self.consumers.len())
            .field("failed", &self.failed)
            .finish()
    }
}

impl Deliveries for RabbitDeliveries {
    async fn next(&mut self) -> Option<Result<Delivery, BrokerError>> {
        std::future::poll_fn(|cx| self.poll_delivery(cx)).await
    }
}

/// One lapin consumer (one queue) as a stream of runtime deliveries.
pub(crate) struct QueueConsumer {
    consumer: Consumer,
    /// Shared by every delivery of this consumer.
    queue: Arc<str>,
    /// Set when the channel cancels its consumers: the end of the stream is
    /// then expected, not an error.
    cancelled: Arc<AtomicBool>,
    connection: ConnectionStatus,
    channel: lapin::ChannelStatus,
    done: bool,
}

impl QueueConsumer {
    pub(crate) fn new(
        consumer: Consumer,
        queue: Arc<str>,
        cancelled: Arc<AtomicBool>,
        connection: ConnectionStatus,
        channel: lapin::ChannelStatus,
    ) -> Self {
        QueueConsumer {
            consumer,
            queue,
            cancelled,
            connection,
            channel,
            done: false,
        }
    }

    fn ended_error(&self) -> BrokerError {
        if self.connection.connected() && self.channel.connected() {
            BrokerError::new(
                BrokerErrorKind::Cancelled,
                format!(
                    "the broker cancelled the consumer of queue `{}` (queue deleted, leader moved, or consumer timeout)",
                    self.queue
                ),
            )
        } else if self.connection.connected() {
            BrokerError::closed(format!(
                "the channel consuming queue `{}` was closed",
                self.queue
            ))
        } else {
            BrokerError::connection(format!(
                "connection lost while consuming queue `{}`",
                self.queue
            ))
        }
    }
}

impl Stream for QueueConsumer {
    type Item = Result<Delivery, BrokerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = ready!(self.consumer.poll_next_unpin(cx));
        Poll::Ready(match item {
            Some(Ok(delivery)) => Some(Ok(convert(delivery, &self.queue))),
            Some(Err(error)) => {
                self.done = true;
                let base = self.ended_error();
                Some(Err(BrokerError::new(
                    base.kind(),
                    format!("{}: {error}", base.message()),
                )))
            }
            None => {
                self.done = true;
                if self.cancelled.load(Ordering::Acquire) {
                    None
                } else {
                    Some(Err(self.ended_error()))
                }
            }
        })
    }
}

/// Converts a lapin delivery, moving its body. Headers nested deeper than
/// [`worker_core::backend::broker::MAX_HEADER_DEPTH`] are left out, and the delivery
/// carries the defect: the runtime settles it by `on_decode_error`.
fn convert(delivery: lapin::message::Delivery, queue: &Arc<str>) -> Delivery {
    let (properties, defect) = from_basic(&delivery.properties);
    let mut d = Delivery::new(
        delivery.delivery_tag,
        queue.clone(),
        Bytes::from(delivery.data),
    );
    d.exchange = delivery.exchange.into();
    d.routing_key = delivery.routing_key.into();
    d.redelivered = delivery.redelivered;
    d.properties = properties;
    d.defect = defect;
    d
}
