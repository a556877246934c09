//! A route's exchange, before its queues are declared or checked.

use crate::broker::{Channel, ExchangeKind};
use crate::error::{BrokerError, BrokerErrorKind};

/// Declares the route's exchange (`declare`), or checks that it exists.
/// The broker's own exchanges (`amq.*`) exist already and a client may
/// not declare them: they are always checked.
pub(super) async fn prepare_exchange<C: Channel>(
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
