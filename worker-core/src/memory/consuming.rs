//! The broker state's side of consuming: channels opened and closed,
//! consumers and their prefetch, and settling deliveries (ack, requeue, reject).

use std::sync::Arc;

use super::channel_state::{ChannelState, Taken, Unacked};
use super::dead_letter::DeathReason;
use super::deliveries::MemoryDeliveries;
use super::queue::{ConsumerRef, Queue};
use super::shared::ChannelShared;
use super::state::{refused, State};
use crate::broker::Settle;
use crate::error::BrokerError;

impl State {
    pub(super) fn open_channel(&mut self) -> (u64, Arc<ChannelShared>) {
        let id = self.next_id();
        let shared = Arc::new(ChannelShared::default());
        self.channels.insert(id, ChannelState::new(shared.clone()));
        (id, shared)
    }

    pub(super) fn qos(&mut self, channel: u64, prefetch: u16) {
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.prefetch = prefetch;
            self.dirty.extend(ch.consumed_queues());
            self.dispatch_dirty();
        }
    }

    pub(super) fn consume(
        &mut self,
        channel: u64,
        queues: &[&str],
        priority: i32,
    ) -> Result<MemoryDeliveries, BrokerError> {
        if queues.is_empty() {
            return Err(refused("`consume` needs at least one queue".into()));
        }
        let mut names: Vec<Arc<str>> = Vec::with_capacity(queues.len());
        for &queue in queues {
            let (name, _) = self
                .queues
                .get_key_value(queue)
                .ok_or_else(|| BrokerError::queue_not_found(queue))?;
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let sink = self.next_id();
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(BrokerError::closed("channel is closed"));
        };
        let deliveries = ch.add_sink(sink, names.clone());
        for name in names {
            if let Some(q) = self.queues.get_mut(&name) {
                q.add_consumer(ConsumerRef {
                    channel,
                    sink,
                    priority,
                });
            }
            self.dirty.push(name);
        }
        self.dispatch_dirty();
        Ok(deliveries)
    }

    /// Deletes the auto-delete queues whose last consumer went.
    fn delete_unused(&mut self) {
        let unused: Vec<Arc<str>> = self
            .queues
            .values()
            .filter(|q| q.unused())
            .map(|q| q.name.clone())
            .collect();
        for name in unused {
            self.delete_queue(&name);
        }
    }

    /// Stops this channel's consumers; their streams end after what was
    /// sent. (A single-active-consumer queue's next consumer takes over.)
    pub(super) fn cancel(&mut self, channel: u64) {
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        for name in ch.cancel_sinks() {
            if let Some(q) = self.queues.get_mut(&name) {
                q.remove_consumers(|c| c.channel != channel);
                self.dirty.push(name);
            }
        }
        self.delete_unused();
        self.dispatch_dirty();
    }

    /// Whether `channel` holds the consumer of `queue` that gets its
    /// messages: the earliest registered one on a single-active-consumer
    /// queue, any consumer on another. `None`: the channel does not consume
    /// `queue`.
    pub(super) fn consumer_active(&self, channel: u64, queue: &str) -> Option<bool> {
        let q = self.queues.get(queue)?;
        if !q.consumers.iter().any(|c| c.channel == channel) {
            return None;
        }
        Some(!q.options.single_active || q.active_consumer().is_some_and(|a| a.channel == channel))
    }

    /// Closes a channel: consumers stop, their streams end (with `failure`
    /// first, if given), and unacked messages return to the head of their
    /// queues, redelivered.
    pub(super) fn close_channel(&mut self, channel: u64, failure: Option<BrokerError>) {
        let Some(mut ch) = self.channels.remove(&channel) else {
            return;
        };
        ch.shared.end(failure);
        for name in ch.cancel_sinks() {
            if let Some(q) = self.queues.get_mut(&name) {
                q.remove_consumers(|c| c.channel != channel);
            }
        }
        for unacked in ch.take_all_unacked().into_iter().rev() {
            self.requeue(unacked, false, true);
        }
        // Its exclusive queues go with it.
        let owned: Vec<Arc<str>> = self
            .queues
            .values()
            .filter(|q| q.owner == Some(channel))
            .map(|q| q.name.clone())
            .collect();
        for name in owned {
            self.delete_queue(&name);
        }
        self.delete_unused();
        self.dispatch_dirty();
    }

    /// Closes every channel (a dropped connection when `failure` is given,
    /// a graceful close otherwise).
    pub(super) fn close_all(&mut self, failure: Option<BrokerError>) {
        let mut ids: Vec<u64> = self.channels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.close_channel(id, failure.clone());
        }
    }

    /// Acks, requeues or rejects `tag` (every outstanding tag up to it with
    /// `multiple`; everything with tag 0 and `multiple`). An unknown tag is a
    /// channel error: the channel closes, as RabbitMQ does.
    pub(super) fn settle(
        &mut self,
        channel: u64,
        tag: u64,
        multiple: bool,
        how: Settle,
    ) -> Result<(), BrokerError> {
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(BrokerError::closed("channel is closed"));
        };
        let Some(taken) = ch.take_unacked(tag, multiple) else {
            let error = refused(format!("PRECONDITION_FAILED - unknown delivery tag {tag}"));
            let failure =
                BrokerError::closed(format!("channel closed by the broker: {}", error.message));
            self.close_channel(channel, Some(failure));
            return Err(error);
        };
        let window_freed = ch.prefetch > 0;
        if window_freed || matches!(how, Settle::Requeue | Settle::Return) {
            self.dirty.extend(ch.consumed_queues());
        }
        match (how, taken) {
            (Settle::Ack, Taken::One(u)) => self.count_ack(&u),
            (Settle::Ack, Taken::Many(taken)) => self.count_acks(&taken),
            (Settle::Requeue | Settle::Return, Taken::One(u)) => {
                self.requeue(u, true, how == Settle::Requeue)
            }
            (Settle::Requeue | Settle::Return, Taken::Many(taken)) => {
                for u in taken.into_iter().rev() {
                    self.requeue(u, true, how == Settle::Requeue);
                }
            }
            (Settle::Reject, Taken::One(u)) => self.reject(u),
            (Settle::Reject, Taken::Many(taken)) => taken.into_iter().for_each(|u| self.reject(u)),
        }
        self.dispatch_dirty();
        Ok(())
    }

    fn live_queue(&mut self, u: &Unacked) -> Option<&mut Queue> {
        self.queues
            .get_mut(&*u.queue)
            .filter(|q| q.id == u.queue_id)
    }

    fn count_ack(&mut self, u: &Unacked) {
        if let Some(q) = self.live_queue(u) {
            q.stats.acked += 1;
        }
    }

    /// Counts the acks of a multiple-ack, one queue lookup per run of
    /// deliveries from the same queue.
    fn count_acks(&mut self, taken: &[Unacked]) {
        for run in taken.chunk_by(|a, b| a.queue_id == b.queue_id) {
            if let Some(q) = self.live_queue(&run[0]) {
                q.stats.acked += run.len() as u64;
            }
        }
    }

    fn reject(&mut self, u: Unacked) {
        let Some(q) = self.live_queue(&u) else {
            return;
        };
        q.stats.rejected += 1;
        let Some(target) = q.dead_letter_target() else {
            return;
        };
        q.stats.dead_lettered += 1;
        let from = q.name.clone();
        self.dead_letter(&from, &target, u.msg, DeathReason::Rejected);
    }
}
