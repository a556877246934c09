//! A route's exchange, then its queues, declared or checked before the
//! route consumes them.

use super::ConsumerSpec;
use crate::broker::{Channel, ExchangeKind, QueueOptions};
use crate::error::{BrokerError, BrokerErrorKind};

/// Declares or checks the route's exchange, declares (and binds) or
/// checks `queues` (the route's, or a broadcast route's queue of this
/// process, always declared), and makes sure the dead-letter queue exists.
pub(super) async fn prepare_queues<C: Channel>(
    spec: &ConsumerSpec,
    channel: &C,
    queues: &[&str],
) -> Result<(), BrokerError> {
    if let Some((exchange, kind)) = spec.exchange {
        let declare = match &spec.broadcast {
            Some(b) => b.declare_exchange,
            None => spec.declare.is_some(),
        };
        prepare_exchange(channel, exchange, kind, declare).await?;
    }
    for queue in queues {
        match &spec.declare {
            Some(options) => {
                channel.declare_queue(queue, options).await?;
                for binding in &spec.bindings {
                    channel.bind_queue(queue, binding).await?;
                }
            }
            None => channel.check_queue(queue).await.map_err(|e| {
                if e.kind == BrokerErrorKind::QueueNotFound {
                    BrokerError::queue_not_found(queue)
                } else {
                    e
                }
            })?,
        }
    }
    if let Some(dlq) = spec.policy.dead_letter {
        if let Err(e) = channel.check_queue(dlq).await {
            if e.kind != BrokerErrorKind::QueueNotFound {
                return Err(e);
            }
            channel.declare_queue(dlq, &QueueOptions::durable()).await?;
        }
    }
    Ok(())
}

/// Declares the route's exchange (`declare`), or checks that it exists.
/// The broker's own exchanges (`amq.*`) exist already and a client may
/// not declare them: they are always checked.
async fn prepare_exchange<C: Channel>(
    channel: &C,
    exchange: &str,
    kind: ExchangeKind,
    declare: bool,
) -> Result<(), BrokerError> {
    if declare && !exchange.starts_with("amq.") {
        return channel.declare_exchange(exchange, kind).await;
    }
    channel.check_exchange(exchange).await.map_err(|e| {
        if e.kind == BrokerErrorKind::ExchangeNotFound {
            BrokerError::new(
                BrokerErrorKind::ExchangeNotFound,
                format!("exchange `{exchange}` does not exist: declare it, or set `declare = true` on the route so that it is declared as a durable {kind} exchange"),
            )
        } else {
            e
        }
    })
}
