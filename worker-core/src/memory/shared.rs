//! What a channel's handle, its stream of deliveries and the engine share:
//! whether the channel ended, and why.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::broker::Delivery;
use crate::error::BrokerError;

/// One item of a consumer stream.
pub(super) type Event = Result<Delivery, BrokerError>;

/// State shared between a channel's handle, its streams and the broker.
#[derive(Default)]
pub(super) struct ChannelShared {
    /// Set when the channel closed; streams stop yielding deliveries.
    ended: AtomicBool,
    /// Why the channel closed abruptly (a dropped connection, a channel
    /// error); streams yield it once, operations return it.
    failure: OnceLock<BrokerError>,
}

impl ChannelShared {
    pub(super) fn end(&self, failure: Option<BrokerError>) {
        if let Some(failure) = failure {
            let _ = self.failure.set(failure);
        }
        self.ended.store(true, Ordering::Release);
    }

    pub(super) fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    pub(super) fn failure(&self) -> Option<&BrokerError> {
        self.failure.get()
    }

    /// The error operations on this (closed) channel return.
    pub(super) fn closed_error(&self) -> BrokerError {
        self.failure()
            .cloned()
            .unwrap_or_else(|| BrokerError::closed("channel is closed"))
    }
}
