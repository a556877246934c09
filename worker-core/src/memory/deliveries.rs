//! [`MemoryDeliveries`]: the [`Deliveries`] stream of the embedded broker.

use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::shared::{ChannelShared, Event};
use crate::broker::{Deliveries, Delivery};
use crate::error::BrokerError;

/// The stream of a [`MemoryChannel`](super::MemoryChannel)'s consumers.
///
/// Yields deliveries in tag order; `None` once the consumers were cancelled
/// (after the deliveries already sent) or the channel closed; an error first
/// when the channel was closed abruptly (a dropped connection, a channel
/// error) or, without ending the stream unless it consumed nothing else, when
/// a consumed queue was deleted.
pub struct MemoryDeliveries {
    rx: mpsc::UnboundedReceiver<Event>,
    shared: Arc<ChannelShared>,
    finished: bool,
}

impl fmt::Debug for MemoryDeliveries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDeliveries")
            .field("buffered", &self.rx.len())
            .field("finished", &self.finished)
            .finish()
    }
}

impl MemoryDeliveries {
    pub(super) fn new(rx: mpsc::UnboundedReceiver<Event>, shared: Arc<ChannelShared>) -> Self {
        MemoryDeliveries {
            rx,
            shared,
            finished: false,
        }
    }

    fn finish(&mut self) -> Option<Result<Delivery, BrokerError>> {
        self.finished = true;
        self.rx.close();
        self.shared.failure().cloned().map(Err)
    }
}

impl Deliveries for MemoryDeliveries {
    async fn next(&mut self) -> Option<Result<Delivery, BrokerError>> {
        if self.finished {
            return None;
        }
        // A closed channel's buffered deliveries were already returned to
        // their queues: do not hand them out.
        if self.shared.is_ended() {
            return self.finish();
        }
        match self.rx.recv().await {
            Some(event) if !self.shared.is_ended() => Some(event),
            _ => self.finish(),
        }
    }
}
