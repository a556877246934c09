//! Rejecting a message: nack it without requeue, or, when the route has a
//! `dead_letter` queue, republish it there with the reason
//! (`x-death-reason`) and the queue it came from (`x-original-queue`), then
//! ack it (see [`republish`](super::republish)). A dead-letter queue
//! deleted while the route runs is declared again; a republish that fails
//! requeues the message.

use super::plan::{settled, Kind, Plan, Republish};
use super::settler::Settler;
use crate::broker::Settle;
use crate::broker::{
    AmqpValue, Channel, Delivery, Properties, QueueOptions, DEATH_REASON_HEADER,
    ORIGINAL_QUEUE_HEADER,
};
use crate::error::BrokerError;
use crate::metrics::QueueOutcomes;

/// The properties of `d` as republished to a dead-letter queue.
pub(crate) fn dead_letter_properties(d: &Delivery, reason: &str) -> Properties {
    let mut props = d.properties.clone();
    props
        .headers
        .insert(DEATH_REASON_HEADER.to_owned(), AmqpValue::from(reason));
    props
        .headers
        .insert(ORIGINAL_QUEUE_HEADER.to_owned(), AmqpValue::from(&*d.queue));
    props
}

impl<C: Channel> Settler<C> {
    /// How `d` is rejected for `reason` (`rejected`, `decode failed`,
    /// `retries exhausted`).
    pub(super) fn plan_reject(
        &self,
        d: &Delivery,
        reason: &str,
        outcomes: Option<&QueueOutcomes>,
    ) -> Plan {
        match self.policy.dead_letter {
            None => settled(outcomes, |o| &o.rejected, Settle::Reject),
            Some(dlq) => Plan::Republish(Republish {
                queue: dlq.to_owned(),
                properties: dead_letter_properties(d, reason),
                kind: Kind::DeadLetter,
            }),
        }
    }

    pub(super) async fn declare_dead_letter_queue(&self, dlq: &str) -> Result<(), BrokerError> {
        self.channel
            .declare_queue(dlq, &QueueOptions::durable())
            .await
    }
}
