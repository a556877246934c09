//! Declaring exchanges, binding queues, and the queues a publish goes to:
//! the exchange operations of the state ([`State`]).

use std::sync::Arc;

use super::exchange::Exchange;
use super::state::{refused, State};
use crate::broker::{Binding, ExchangeKind, Headers};
use crate::error::BrokerError;

impl State {
    pub(super) fn declare_exchange(
        &mut self,
        name: &str,
        kind: ExchangeKind,
    ) -> Result<(), BrokerError> {
        if name.is_empty() {
            return Err(refused(
                "ACCESS_REFUSED - the default exchange cannot be declared".into(),
            ));
        }
        match self.exchanges.get(name) {
            Some(e) if e.kind == kind => Ok(()),
            Some(e) => Err(refused(format!(
                "PRECONDITION_FAILED - inequivalent arg 'type' for exchange `{name}`: received '{kind}' but current is '{}'",
                e.kind
            ))),
            None if name.starts_with("amq.") => Err(refused(format!(
                "ACCESS_REFUSED - exchange name `{name}` contains reserved prefix 'amq.*'"
            ))),
            None => {
                self.exchanges.insert(name.to_owned(), Exchange::new(kind));
                Ok(())
            }
        }
    }

    /// A passive declare: the exchange's kind, or `ExchangeNotFound`.
    pub(super) fn check_exchange(&self, name: &str) -> Result<ExchangeKind, BrokerError> {
        self.exchanges
            .get(name)
            .map(|e| e.kind)
            .ok_or_else(|| BrokerError::exchange_not_found(name))
    }

    pub(super) fn bind(&mut self, queue: &str, binding: Binding) -> Result<(), BrokerError> {
        let queue = self
            .queues
            .get_key_value(queue)
            .map(|(k, _)| k.clone())
            .ok_or_else(|| BrokerError::queue_not_found(queue))?;
        if binding.exchange.is_empty() {
            return Err(refused(
                "ACCESS_REFUSED - queues cannot be bound to the default exchange".into(),
            ));
        }
        let ex = self
            .exchanges
            .get_mut(&binding.exchange)
            .ok_or_else(|| BrokerError::exchange_not_found(&binding.exchange))?;
        ex.bind(queue, binding);
        Ok(())
    }

    /// Every binding of `queue`, with its exchange's kind, in the order of
    /// the exchanges' names.
    pub(super) fn bindings_of(&self, queue: &str) -> Vec<(ExchangeKind, Binding)> {
        let mut out: Vec<(ExchangeKind, Binding)> = self
            .exchanges
            .values()
            .flat_map(|e| e.bindings_of(queue).map(|b| (e.kind, b.clone())))
            .collect();
        out.sort_by(|a, b| {
            (&a.1.exchange, &a.1.routing_key).cmp(&(&b.1.exchange, &b.1.routing_key))
        });
        out
    }

    /// The queues a message published to `exchange` with `routing_key`
    /// and `headers` goes to.
    pub(super) fn targets(
        &self,
        exchange: &str,
        routing_key: &str,
        headers: &Headers,
    ) -> Result<Vec<Arc<str>>, BrokerError> {
        if exchange.is_empty() {
            // The default exchange: the routing key names the queue; a
            // missing queue makes the message unroutable.
            return Ok(self
                .queues
                .get_key_value(routing_key)
                .map(|(name, _)| vec![name.clone()])
                .unwrap_or_default());
        }
        let ex = self
            .exchanges
            .get(exchange)
            .ok_or_else(|| refused(format!("NOT_FOUND - no exchange `{exchange}`")))?;
        let mut out = Vec::new();
        ex.route_into(routing_key, headers, &mut out);
        Ok(out)
    }
}
