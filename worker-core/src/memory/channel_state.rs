//! Per-channel state kept inside the broker: the prefetch window, delivery
//! tags, unacked deliveries and the senders of the channel's streams.

use std::collections::VecDeque;
use std::mem;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::deliveries::MemoryDeliveries;
use super::queue::Stored;
use super::shared::{ChannelShared, Event};
use crate::broker::{AmqpValue, Delivery, DELIVERY_COUNT_HEADER};
use crate::error::BrokerError;

/// A delivery awaiting settlement.
pub(super) struct Unacked {
    pub(super) queue: Arc<str>,
    pub(super) queue_id: u64,
    pub(super) msg: Stored,
}

/// Deliveries taken out of the unacked window by one settlement.
pub(super) enum Taken {
    One(Unacked),
    /// In tag order.
    Many(Vec<Unacked>),
}

/// One `consume` call: a stream fed by consumers on `queues`.
struct Sink {
    id: u64,
    tx: mpsc::UnboundedSender<Event>,
    queues: Vec<Arc<str>>,
}

pub(super) struct ChannelState {
    pub(super) shared: Arc<ChannelShared>,
    /// Unacked deliveries allowed at once; 0 is unlimited.
    pub(super) prefetch: u16,
    next_tag: u64,
    /// Unacked deliveries by tag, in tag order (tags only grow, so a
    /// delivery is pushed at the back and a multiple-ack takes a prefix).
    unacked: VecDeque<(u64, Unacked)>,
    sinks: Vec<Sink>,
}

impl ChannelState {
    pub(super) fn new(shared: Arc<ChannelShared>) -> Self {
        ChannelState {
            shared,
            prefetch: 0,
            next_tag: 1,
            unacked: VecDeque::new(),
            sinks: Vec::new(),
        }
    }

    pub(super) fn has_room(&self) -> bool {
        self.prefetch == 0 || self.unacked.len() < usize::from(self.prefetch)
    }

    pub(super) fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    pub(super) fn unacked_in(&self, queue_id: u64) -> usize {
        self.unacked
            .iter()
            .filter(|(_, u)| u.queue_id == queue_id)
            .count()
    }

    /// The queues this channel consumes from.
    pub(super) fn consumed_queues(&self) -> impl Iterator<Item = Arc<str>> + '_ {
        self.sinks.iter().flat_map(|s| s.queues.iter().cloned())
    }

    pub(super) fn add_sink(&mut self, id: u64, queues: Vec<Arc<str>>) -> MemoryDeliveries {
        let (tx, rx) = mpsc::unbounded_channel();
        self.sinks.push(Sink { id, tx, queues });
        MemoryDeliveries::new(rx, self.shared.clone())
    }

    /// Sends `msg` to stream `sink` under the next tag. Gives the message
    /// back when the stream is gone.
    pub(super) fn deliver(
        &mut self,
        sink: u64,
        queue: &Arc<str>,
        queue_id: u64,
        msg: Stored,
    ) -> Result<(), Stored> {
        let Some(sink) = self.sinks.iter().find(|s| s.id == sink) else {
            return Err(msg);
        };
        let tag = self.next_tag;
        let payload = &*msg.payload;
        let mut properties = payload.properties.clone();
        if msg.returned > 0 {
            properties.headers.insert(
                DELIVERY_COUNT_HEADER.to_owned(),
                AmqpValue::Int(i64::from(msg.returned)),
            );
        }
        let delivery = Delivery {
            tag,
            queue: queue.clone(),
            exchange: payload.exchange.clone(),
            routing_key: payload.routing_key.clone(),
            redelivered: msg.redelivered,
            properties,
            body: payload.body.clone(),
            defect: None,
        };
        if sink.tx.send(Ok(delivery)).is_err() {
            return Err(msg);
        }
        self.next_tag += 1;
        self.unacked.push_back((
            tag,
            Unacked {
                queue: queue.clone(),
                queue_id,
                msg,
            },
        ));
        Ok(())
    }

    /// Removes the tags a settlement covers; `None` when `tag` is not
    /// outstanding (tag 0 with `multiple` means everything).
    pub(super) fn take_unacked(&mut self, tag: u64, multiple: bool) -> Option<Taken> {
        if multiple && tag == 0 {
            return Some(Taken::Many(self.take_all_unacked()));
        }
        let index = self.unacked.binary_search_by_key(&tag, |(t, _)| *t).ok()?;
        if !multiple {
            return self.unacked.remove(index).map(|(_, u)| Taken::One(u));
        }
        Some(Taken::Many(
            self.unacked.drain(..=index).map(|(_, u)| u).collect(),
        ))
    }

    /// Every unacked delivery, in tag order.
    pub(super) fn take_all_unacked(&mut self) -> Vec<Unacked> {
        mem::take(&mut self.unacked)
            .into_iter()
            .map(|(_, u)| u)
            .collect()
    }

    /// Drops every stream sender, returning the queues they consumed from.
    pub(super) fn cancel_sinks(&mut self) -> Vec<Arc<str>> {
        self.sinks.drain(..).flat_map(|s| s.queues).collect()
    }

    /// Stream `sink` no longer consumes `queue`; it ends when it consumes
    /// nothing.
    pub(super) fn forget_queue(&mut self, sink: u64, queue: &str) {
        if let Some(index) = self.sinks.iter().position(|s| s.id == sink) {
            let s = &mut self.sinks[index];
            s.queues.retain(|q| &**q != queue);
            if s.queues.is_empty() {
                self.sinks.remove(index);
            }
        }
    }

    /// `queue` was deleted: stream `sink` gets `error`, then forgets it.
    pub(super) fn queue_deleted(&mut self, sink: u64, queue: &str, error: &BrokerError) {
        if let Some(s) = self.sinks.iter().find(|s| s.id == sink) {
            let _ = s.tx.send(Err(error.clone()));
        }
        self.forget_queue(sink, queue);
    }
}
