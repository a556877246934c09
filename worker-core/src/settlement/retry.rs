//! Retrying a message through a delay queue: attempt `n` is republished,
//! with `x-retry-count = n`, to `{queue}.retry.{ms}ms`, whose TTL of
//! `backoff * 2^(n-1)` (capped) dead-letters it back to its queue; after
//! `max` retries it is dead-lettered (`retries exhausted`). Delay queues
//! are declared on first use, and again when deleted while the route runs.

use std::time::Duration;

use super::plan::{Kind, Plan, Republish};
use super::settler::Settler;
use super::Retries;
use crate::broker::{
    AmqpValue, Channel, Delivery, QueueOptions, ORIGINAL_QUEUE_HEADER, RETRY_COUNT_HEADER,
};
use crate::error::BrokerError;
use crate::metrics::QueueOutcomes;

/// Longest delay between retries.
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// The delay queue of a retry: `{queue}.retry.{ms}ms`.
pub(crate) fn delay_queue_name(queue: &str, delay: Duration) -> String {
    format!("{queue}.retry.{}ms", delay.as_millis())
}

/// The delay before attempt `attempt` (1-based): `backoff * 2^(attempt-1)`, capped.
pub(crate) fn retry_delay(backoff: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    backoff.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

/// The delay queue's declaration: messages wait `delay`, then the broker
/// dead-letters them back to `queue` through the default exchange.
pub(crate) fn delay_queue_options(delay: Duration, queue: &str) -> QueueOptions {
    QueueOptions {
        durable: true,
        message_ttl: Some(delay),
        dead_letter_exchange: Some(String::new()),
        dead_letter_routing_key: Some(queue.to_owned()),
        ..Default::default()
    }
}

impl<C: Channel> Settler<C> {
    /// How `d` is retried once more (its delay queue declared on first
    /// use), or dead-lettered when its retries are used up.
    pub(super) async fn plan_retry(
        &self,
        d: &Delivery,
        retries: Retries,
        outcomes: Option<&QueueOutcomes>,
    ) -> Plan {
        let attempt = d.retry_count() + 1;
        if attempt > retries.max {
            return self.plan_reject(d, "retries exhausted", outcomes);
        }
        let delay = retry_delay(retries.backoff, attempt);
        let delay_queue = delay_queue_name(&d.queue, delay);
        let known = self
            .declared_delay_queues
            .lock()
            .expect("delay queue set poisoned")
            .contains(&delay_queue);
        if !known {
            if let Err(e) = self
                .declare_delay_queue(&delay_queue, delay, &d.queue)
                .await
            {
                return Plan::Settled(self.republish_failed("retry republish", &e, outcomes));
            }
        }
        let mut properties = d.properties.clone();
        properties.headers.insert(
            RETRY_COUNT_HEADER.to_owned(),
            AmqpValue::Int(attempt as i64),
        );
        properties
            .headers
            .insert(ORIGINAL_QUEUE_HEADER.to_owned(), AmqpValue::from(&*d.queue));
        tracing::debug!(
            route = self.route,
            attempt,
            delay_ms = delay.as_millis() as u64,
            "retrying message"
        );
        Plan::Republish(Republish {
            queue: delay_queue,
            properties,
            kind: Kind::Retry { delay },
        })
    }

    pub(super) async fn declare_delay_queue(
        &self,
        name: &str,
        delay: Duration,
        queue: &str,
    ) -> Result<(), BrokerError> {
        self.channel
            .declare_queue(name, &delay_queue_options(delay, queue))
            .await?;
        self.declared_delay_queues
            .lock()
            .expect("delay queue set poisoned")
            .insert(name.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_are_capped() {
        let b = Duration::from_millis(500);
        assert_eq!(retry_delay(b, 1), Duration::from_millis(500));
        assert_eq!(retry_delay(b, 2), Duration::from_secs(1));
        assert_eq!(retry_delay(b, 3), Duration::from_secs(2));
        assert_eq!(retry_delay(b, 40), MAX_RETRY_DELAY);
        assert_eq!(
            delay_queue_name("items", Duration::from_secs(2)),
            "items.retry.2000ms"
        );
    }
}
