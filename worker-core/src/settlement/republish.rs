//! The republishes of a batch's settlement (retries into delay queues,
//! dead-letters), pipelined: every message of the batch that must be
//! republished is sent on the channel, then every confirm is awaited
//! together, before the originals are acked. One round trip per batch,
//! not one per message.

use super::plan::{count, Kind, Plan, Republish};
use super::settler::{Scratch, Settler};
use crate::broker::Settle;
use crate::broker::{Channel, Delivery, Outgoing};
use crate::error::{BrokerError, BrokerErrorKind};

impl<C: Channel> Settler<C> {
    /// Publishes the republishes of `scratch.plans` (one per message of
    /// `deliveries`) pipelined, and puts every message's wire action in
    /// `scratch.wire`: ack for a confirmed republish, requeue for a failed
    /// one.
    pub(super) async fn republish_all(&self, deliveries: &[Delivery], scratch: &mut Scratch) {
        let Scratch { plans, wire } = scratch;
        if plans.iter().all(|p| matches!(p, Plan::Settled(_))) {
            // Nothing to publish: the common case.
            for (d, plan) in deliveries.iter().zip(plans.iter()) {
                if let Plan::Settled(w) = plan {
                    wire.push((d.tag, *w));
                }
            }
            return;
        }
        let outgoing: Vec<Outgoing<'_>> = deliveries
            .iter()
            .zip(plans.iter())
            .filter_map(|(d, plan)| match plan {
                Plan::Republish(r) => Some(Outgoing {
                    exchange: "",
                    routing_key: &r.queue,
                    body: &d.body,
                    properties: &r.properties,
                }),
                Plan::Settled(_) => None,
            })
            .collect();
        let mut results = if outgoing.is_empty() {
            Vec::new()
        } else {
            self.channel.publish_each(&outgoing).await
        }
        .into_iter();
        for (d, plan) in deliveries.iter().zip(plans.drain(..)) {
            let action = match plan {
                Plan::Settled(w) => w,
                Plan::Republish(r) => {
                    let published = results.next().unwrap_or_else(|| {
                        Err(BrokerError::closed("no publish result for a republish"))
                    });
                    self.confirmed(d, &r, published).await
                }
            };
            wire.push((d.tag, action));
        }
    }

    /// The wire action of `d` once its republish `r` ended with
    /// `published`. A queue deleted while the route runs is declared again
    /// (as at startup) and the message published once more, rather than
    /// requeued in a loop; any other failure requeues it.
    async fn confirmed(
        &self,
        d: &Delivery,
        r: &Republish,
        published: Result<(), BrokerError>,
    ) -> Settle {
        let outcomes = self.outcomes(&d.queue);
        let published = match published {
            Err(e) if e.kind == BrokerErrorKind::Unroutable => {
                tracing::warn!(route = self.route, queue = %r.queue, "republish target missing; declaring it again");
                match self.redeclare(r, &d.queue).await {
                    Ok(()) => {
                        self.channel
                            .publish("", &r.queue, &d.body, &r.properties)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        match (published, &r.kind) {
            (Ok(()), Kind::Retry { .. }) => {
                count(outcomes, |o| &o.retried);
                Settle::Ack
            }
            (Ok(()), Kind::DeadLetter) => {
                count(outcomes, |o| &o.dead_lettered);
                Settle::Ack
            }
            (Err(e), Kind::Retry { .. }) => self.republish_failed("retry republish", &e, outcomes),
            (Err(e), Kind::DeadLetter) => self.republish_failed(
                &format!("dead-letter publish to `{}`", r.queue),
                &e,
                outcomes,
            ),
        }
    }

    async fn redeclare(&self, r: &Republish, origin: &str) -> Result<(), BrokerError> {
        match r.kind {
            Kind::Retry { delay } => self.declare_delay_queue(&r.queue, delay, origin).await,
            Kind::DeadLetter => self.declare_dead_letter_queue(&r.queue).await,
        }
    }
}
