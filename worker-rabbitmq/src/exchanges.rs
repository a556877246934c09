//! Exchanges and bindings on RabbitMQ: `exchange.declare` (active and
//! passive) and `queue.bind`, each on a short-lived channel, since a
//! refusal closes the channel it happens on.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::FieldTable;
use worker_core::backend::broker::{Binding, ExchangeKind};
use worker_core::backend::error::BrokerError;

use crate::channel::RabbitChannel;
use crate::error;
use crate::headers::{short_string, to_field_table};

fn lapin_kind(kind: ExchangeKind) -> lapin::ExchangeKind {
    match kind {
        ExchangeKind::Direct => lapin::ExchangeKind::Direct,
        ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
        ExchangeKind::Headers => lapin::ExchangeKind::Headers,
        _ => lapin::ExchangeKind::Topic,
    }
}

/// Whether a 404 is about the exchange (`NOT_FOUND - no exchange 'x' in
/// vhost '/'`), not the queue.
fn names_exchange(error: &lapin::Error) -> bool {
    error::is_not_found(error) && error.to_string().contains("no exchange")
}

impl RabbitChannel {
    /// `exchange.declare` of a durable exchange, or a passive one.
    pub(crate) async fn exchange(
        &self,
        exchange: &str,
        kind: ExchangeKind,
        passive: bool,
    ) -> Result<(), BrokerError> {
        let name = short_string("exchange name", exchange)?;
        let operation = if passive {
            format!("exchange.declare (passive) of `{exchange}`")
        } else {
            format!("exchange.declare of {kind} exchange `{exchange}`")
        };
        let scratch = self.scratch_channel(&operation).await?;
        let options = ExchangeDeclareOptions {
            passive,
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        match scratch
            .exchange_declare(name, lapin_kind(kind), options, FieldTable::default())
            .await
        {
            Ok(()) => {
                let _ = scratch.close(200, "bye".into()).await;
                Ok(())
            }
            Err(e) if names_exchange(&e) => Err(BrokerError::exchange_not_found(exchange)),
            Err(e) => Err(self.fail(&operation, &e)),
        }
    }

    /// `queue.bind` of `queue` with `binding`.
    pub(crate) async fn bind(&self, queue: &str, binding: &Binding) -> Result<(), BrokerError> {
        let operation = format!("queue.bind of `{queue}` to {binding}");
        let queue_name = short_string("queue name", queue)?;
        let exchange = short_string("exchange name", &binding.exchange)?;
        let key = short_string("binding key", &binding.routing_key)?;
        let arguments = to_field_table(&binding.arguments)?;
        let scratch = self.scratch_channel(&operation).await?;
        match scratch
            .queue_bind(
                queue_name,
                exchange,
                key,
                QueueBindOptions::default(),
                arguments,
            )
            .await
        {
            Ok(()) => {
                let _ = scratch.close(200, "bye".into()).await;
                Ok(())
            }
            Err(e) if names_exchange(&e) => Err(BrokerError::exchange_not_found(&binding.exchange)),
            Err(e) if error::is_not_found(&e) => Err(BrokerError::queue_not_found(queue)),
            Err(e) => Err(self.fail(&operation, &e)),
        }
    }
}
