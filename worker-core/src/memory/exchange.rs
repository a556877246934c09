//! Exchanges and their bindings; matching is [`ExchangeKind::matches`].

use std::sync::Arc;

use super::hash::FastMap;
use crate::broker::{Binding, ExchangeKind, Headers};

pub(super) struct Bound {
    pub(super) queue: Arc<str>,
    pub(super) binding: Binding,
}

pub(super) struct Exchange {
    pub(super) kind: ExchangeKind,
    pub(super) bindings: Vec<Bound>,
}

impl Exchange {
    pub(super) fn new(kind: ExchangeKind) -> Self {
        Exchange {
            kind,
            bindings: Vec::new(),
        }
    }

    /// Adds a binding; binding the same queue with the same key and
    /// arguments again changes nothing, as in RabbitMQ.
    pub(super) fn bind(&mut self, queue: Arc<str>, binding: Binding) {
        if !self
            .bindings
            .iter()
            .any(|b| *b.queue == *queue && b.binding == binding)
        {
            self.bindings.push(Bound { queue, binding });
        }
    }

    pub(super) fn unbind_queue(&mut self, queue: &str) {
        self.bindings.retain(|b| &*b.queue != queue);
    }

    /// Appends the queues that take a message with `routing_key` and
    /// `headers` to `out`, once each.
    pub(super) fn route_into(&self, routing_key: &str, headers: &Headers, out: &mut Vec<Arc<str>>) {
        for b in &self.bindings {
            if self.kind.matches(&b.binding, routing_key, headers) && !out.contains(&b.queue) {
                out.push(b.queue.clone());
            }
        }
    }

    /// The bindings of `queue`.
    pub(super) fn bindings_of<'a>(&'a self, queue: &'a str) -> impl Iterator<Item = &'a Binding> {
        self.bindings
            .iter()
            .filter(move |b| &*b.queue == queue)
            .map(|b| &b.binding)
    }
}

/// The exchanges every broker has from the start (`amq.headers` is also
/// known as `amq.match`).
pub(super) fn predeclared() -> FastMap<String, Exchange> {
    [
        ("amq.direct", ExchangeKind::Direct),
        ("amq.fanout", ExchangeKind::Fanout),
        ("amq.topic", ExchangeKind::Topic),
        ("amq.headers", ExchangeKind::Headers),
        ("amq.match", ExchangeKind::Headers),
    ]
    .into_iter()
    .map(|(name, kind)| (name.to_owned(), Exchange::new(kind)))
    .collect()
}
