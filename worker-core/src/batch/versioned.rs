//! What a consumer does by the broker's version, known once it has
//! connected: its consumer arguments (`x-priority`; on RabbitMQ 4.3 its own
//! `x-consumer-timeout` on the quorum queues it declares, the only queues
//! that take one and the only ones 4.3 times out), and the warnings that
//! only the version can decide
//! (the default delivery limit of quorum queues since 4.0; the 30-minute
//! `consumer_timeout` of brokers that do not take a consumer's own).

use std::time::Duration;

use super::ConsumerSpec;
use crate::broker::{BrokerVersion, ConsumeOptions};
use crate::settlement::Action;

/// RabbitMQ's default `consumer_timeout`: the broker closes the channel of
/// a consumer that holds an unacked delivery longer than this.
pub(crate) const RABBITMQ_CONSUMER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The warning of a route whose messages can stay unacked for longer than
/// RabbitMQ's default `consumer_timeout`, on brokers that do not take a
/// consumer's own (before 4.3).
pub(crate) fn consumer_timeout_warning(longest: Duration, bisect: bool) -> Option<String> {
    (longest > RABBITMQ_CONSUMER_TIMEOUT).then(|| {
        format!(
            "a message can stay unacked for up to {} (flush interval plus {} at `timeout`, for each batch ahead of it in the prefetch window), longer than RabbitMQ's default `consumer_timeout` of 30 min, after which the broker closes the channel and redelivers; lower `timeout` or `bulk_flush_interval`, raise the broker's `consumer_timeout`, or use RabbitMQ 4.3, where the consumer sets its own",
            humantime::format_duration(longest),
            if bisect { "every bisection run" } else { "one run" },
        )
    })
}

/// What the consumer adds to the longest a message can stay unacked, for
/// its own `x-consumer-timeout`: a tenth, and at least a minute (settling,
/// publishing retries and dead letters).
fn timeout_margin(longest: Duration) -> Duration {
    (longest / 10).max(Duration::from_secs(60))
}

/// The consumer arguments of `spec` on a broker of `version`.
pub(super) fn consume_options(
    spec: &ConsumerSpec,
    version: Option<BrokerVersion>,
) -> ConsumeOptions {
    let quorum = spec.declare.as_ref().is_some_and(|d| d.quorum);
    let own_timeout = quorum && version.is_some_and(BrokerVersion::consumer_timeout_per_consumer);
    ConsumeOptions {
        priority: spec.consumer_priority,
        timeout: spec
            .longest_unacked
            .filter(|_| own_timeout)
            .map(|longest| longest + timeout_margin(longest)),
    }
}

/// Whether the broker's `consumer_timeout` can end a consumer of `spec`
/// before its messages are settled: always before 4.3; on 4.3, which times
/// out quorum queues only, where the consumer sets its own, only on queues
/// whose type the route does not declare.
fn broker_timeout_applies(spec: &ConsumerSpec, version: Option<BrokerVersion>) -> bool {
    !(version.is_some_and(BrokerVersion::consumer_timeout_per_consumer) && spec.declare.is_some())
}

/// The warnings of `spec` on a broker of `version` (`None`: unknown).
pub(super) fn warnings(spec: &ConsumerSpec, version: Option<BrokerVersion>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(w) = default_limit_warning(spec, version) {
        out.push(w);
    }
    if let Some(longest) = spec
        .longest_unacked
        .filter(|_| broker_timeout_applies(spec, version))
    {
        out.extend(consumer_timeout_warning(longest, spec.bisect));
    }
    out
}

/// A route that requeues its failures in place on a quorum queue it
/// declares without a `delivery_limit`, on a broker that gives such queues
/// a limit of its own: the messages past it are dropped (the broker
/// dead-letters only to a target the queue declares, which it does only
/// with a `delivery_limit`).
fn default_limit_warning(spec: &ConsumerSpec, version: Option<BrokerVersion>) -> Option<String> {
    let version = version?;
    let limit = version.default_delivery_limit()?;
    let declared = spec.declare.as_ref()?;
    let requeues = spec.policy.on_exception == Action::Requeue && spec.policy.retries.is_none();
    if !declared.quorum || declared.delivery_limit.is_some() || !requeues {
        return None;
    }
    let queues = spec
        .queues
        .iter()
        .map(|q| format!("`{q}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let lost = match spec.policy.dead_letter {
        Some(dlq) => format!(
            "dropped by the broker, not sent to `{dlq}` (the route's dead_letter receives what the worker rejects)"
        ),
        None => "dropped by the broker".to_owned(),
    };
    Some(format!(
        "RabbitMQ {version} gives the quorum queue {queues} a delivery limit of {limit}: a message whose handler fails {limit} times in a row (on_exception = requeue) is then {lost}; set `delivery_limit = N` with a `dead_letter` queue to keep such messages, or `delivery_limit = \"unlimited\"` to requeue them for ever"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{DeliveryLimit, QueueOptions};

    fn spec(declare: Option<QueueOptions>, on_exception: Action) -> ConsumerSpec {
        let mut spec = crate::batch::spec::test_spec("orders", &["orders"]);
        spec.declare = declare;
        spec.policy.on_exception = on_exception;
        spec
    }

    fn quorum(limit: Option<DeliveryLimit>) -> Option<QueueOptions> {
        Some(QueueOptions {
            quorum: true,
            delivery_limit: limit,
            ..QueueOptions::durable()
        })
    }

    #[test]
    fn the_default_limit_warns_from_4_0_on_a_requeueing_quorum_route() {
        let v = |s| BrokerVersion::parse(s);
        let requeues = spec(quorum(None), Action::Requeue);
        let w = warnings(&requeues, v("4.3.6"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "RabbitMQ 4.3.6 gives the quorum queue `orders` a delivery limit of 20"
            ),
            "{w:?}"
        );
        assert!(w[0].contains("dropped by the broker;"), "{w:?}");
        assert_eq!(warnings(&requeues, v("4.0.5")).len(), 1);
        assert!(warnings(&requeues, v("3.10.8")).is_empty());
        assert!(warnings(&requeues, None).is_empty());
        let unlimited = spec(quorum(Some(DeliveryLimit::Unlimited)), Action::Requeue);
        assert!(warnings(&unlimited, v("4.3.6")).is_empty());
        assert!(warnings(&spec(quorum(None), Action::Reject), v("4.3.6")).is_empty());
        let classic = spec(Some(QueueOptions::durable()), Action::Requeue);
        assert!(warnings(&classic, v("4.3.6")).is_empty());
        let mut dead_lettered = spec(quorum(None), Action::Requeue);
        dead_lettered.policy.dead_letter = Some("orders.dead");
        let w = warnings(&dead_lettered, v("4.0.5"));
        assert!(w[0].contains("not sent to `orders.dead`"), "{w:?}");
    }

    #[test]
    fn the_consumer_sets_its_own_timeout_on_4_3_and_warns_before() {
        let mut slow = spec(quorum(Some(DeliveryLimit::Limited(5))), Action::Requeue);
        slow.longest_unacked = Some(Duration::from_secs(3600));
        slow.consumer_priority = Some(5);
        let on_43 = consume_options(&slow, BrokerVersion::parse("4.3.6"));
        assert_eq!(on_43.timeout, Some(Duration::from_secs(3960)));
        assert_eq!(on_43.priority, Some(5));
        assert!(warnings(&slow, BrokerVersion::parse("4.3.6")).is_empty());
        let on_40 = consume_options(&slow, BrokerVersion::parse("4.0.5"));
        assert_eq!(on_40.timeout, None);
        let w = warnings(&slow, BrokerVersion::parse("4.0.5"));
        assert!(w[0].contains("consumer_timeout"), "{w:?}");
        slow.longest_unacked = Some(Duration::from_secs(100));
        let short = consume_options(&slow, BrokerVersion::parse("4.3.6"));
        assert_eq!(short.timeout, Some(Duration::from_secs(160)));
        assert!(warnings(&slow, BrokerVersion::parse("4.0.5")).is_empty());
        // 4.3 refuses `x-consumer-timeout` on classic queues, and times
        // none out; a queue the route does not declare may be either.
        slow.longest_unacked = Some(Duration::from_secs(3600));
        slow.declare = Some(QueueOptions::durable());
        assert_eq!(
            consume_options(&slow, BrokerVersion::parse("4.3.6")).timeout,
            None
        );
        assert!(warnings(&slow, BrokerVersion::parse("4.3.6")).is_empty());
        slow.declare = None;
        assert_eq!(
            consume_options(&slow, BrokerVersion::parse("4.3.6")).timeout,
            None
        );
        assert_eq!(warnings(&slow, BrokerVersion::parse("4.3.6")).len(), 1);
        let w = consumer_timeout_warning(Duration::from_secs(3660), true).unwrap();
        assert!(
            w.starts_with("a message can stay unacked for up to 1h 1m"),
            "{w}"
        );
        assert_eq!(
            consumer_timeout_warning(Duration::from_secs(1800), true),
            None
        );
    }
}
