//! Rejecting a message: nack it without requeue, or, when the route has a
//! `dead_letter` queue, republish it there with the reason
//! (`x-death-reason`) and the queue it came from (`x-original-queue`), then
//! ack it. A dead-letter queue deleted while the route runs is declared
//! again; a republish that fails requeues the message.

use super::acks::WireAction;
use super::settler::{count, Settler};
use crate::broker::{
    Channel, Delivery, HeaderValue, Properties, QueueOptions, DEATH_REASON_HEADER,
    ORIGINAL_QUEUE_HEADER,
};
use crate::error::BrokerErrorKind;
use crate::metrics::QueueOutcomes;

/// The properties of `d` as republished to a dead-letter queue.
pub(crate) fn dead_letter_properties(d: &Delivery, reason: &str) -> Properties {
    let mut props = d.properties.clone();
    props
        .headers
        .insert(DEATH_REASON_HEADER.to_owned(), HeaderValue::from(reason));
    props.headers.insert(
        ORIGINAL_QUEUE_HEADER.to_owned(),
        HeaderValue::from(&*d.queue),
    );
    props
}

impl<C: Channel> Settler<C> {
    /// Rejects `d` for `reason` (`rejected`, `decode failed`, `retries
    /// exhausted`).
    pub(super) async fn reject(
        &self,
        d: &Delivery,
        reason: &str,
        outcomes: Option<&QueueOutcomes>,
    ) -> WireAction {
        let Some(dlq) = self.policy.dead_letter else {
            count(outcomes, |o| &o.rejected);
            return WireAction::Reject;
        };
        let props = dead_letter_properties(d, reason);
        let mut published = self.channel.publish("", dlq, &d.body, &props).await;
        if matches!(&published, Err(e) if e.kind == BrokerErrorKind::Unroutable) {
            // Deleted since the route started: declare it again (as at
            // startup) rather than requeue the message in a loop.
            tracing::warn!(
                route = self.route,
                dead_letter = dlq,
                "dead-letter queue missing; declaring it again"
            );
            published = match self
                .channel
                .declare_queue(dlq, &QueueOptions::durable())
                .await
            {
                Ok(()) => self.channel.publish("", dlq, &d.body, &props).await,
                Err(e) => Err(e),
            };
        }
        match published {
            Ok(()) => {
                count(outcomes, |o| &o.dead_lettered);
                WireAction::Ack
            }
            Err(e) => {
                self.republish_failed(&format!("dead-letter publish to `{dlq}`"), &e, outcomes)
            }
        }
    }
}
