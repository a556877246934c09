//! Dispatch: moving ready messages into consumers' prefetch windows,
//! round-robin, after expiring the messages whose deadline passed.

use tokio::time::Instant;

use super::channel_state::ChannelState;
use super::dead_letter::DeathReason;
use super::hash::FastMap;
use super::queue::{ConsumerRef, Queue};
use super::state::State;

/// The consumer that gets the next message of a single-active-consumer
/// queue: the active one; a consumer of higher priority (or the next, when
/// the active one is gone) once the active one holds no unacked message of
/// the queue. `None` while a hand-over waits.
fn single_active(q: &mut Queue, channels: &FastMap<u64, ChannelState>) -> Option<ConsumerRef> {
    let first = *q.consumers.first()?;
    if let Some(active) = q.active.filter(|a| q.consumers.contains(a) && *a != first) {
        let busy = channels
            .get(&active.channel)
            .is_some_and(|ch| ch.unacked_in(q.id) > 0);
        if busy {
            return None;
        }
    }
    q.active = Some(first);
    Some(first)
}

/// The index of the consumer that gets the next message: round-robin among
/// the consumers of the highest priority that have room, then the next
/// priority down.
fn by_priority(q: &mut Queue, has_room: impl Fn(&ConsumerRef) -> bool) -> Option<usize> {
    let mut start = 0;
    while start < q.consumers.len() {
        let priority = q.consumers[start].priority;
        let len = q.consumers[start..]
            .iter()
            .take_while(|c| c.priority == priority)
            .count();
        let found = (0..len)
            .map(|i| start + (q.cursor + i) % len)
            .find(|&i| has_room(&q.consumers[i]));
        if let Some(index) = found {
            q.cursor = (index - start + 1) % len;
            return Some(index);
        }
        start += len;
    }
    None
}

impl State {
    /// Dispatches every queue marked dirty until nothing changes.
    pub(super) fn dispatch_dirty(&mut self) {
        while let Some(name) = self.dirty.pop() {
            loop {
                self.expire_due(&name);
                if !self.dispatch(&name) {
                    break;
                }
            }
        }
    }

    /// Expires (dead-letters or drops) the messages at the head of `name`
    /// whose deadline passed.
    pub(super) fn expire_due(&mut self, name: &str) {
        let Some(q) = self.queues.get_mut(name) else {
            return;
        };
        if q.head_deadline().is_none() {
            return;
        }
        let now = Instant::now();
        let mut expired = Vec::new();
        while q.head_deadline().is_some_and(|d| d <= now) {
            expired.extend(q.ready.pop_front());
        }
        if expired.is_empty() {
            return;
        }
        q.stats.expired += expired.len() as u64;
        self.dirty.push(q.name.clone());
        let Some(target) = q.dead_letter_target() else {
            return;
        };
        q.stats.dead_lettered += expired.len() as u64;
        let from = q.name.clone();
        for msg in expired {
            self.dead_letter(&from, &target, msg, DeathReason::Expired);
        }
    }

    /// Delivers ready messages of `name` round-robin to consumers whose
    /// channel has room; on a single-active-consumer queue, only to the
    /// earliest consumer still registered (the others stand by, as on
    /// RabbitMQ). Returns true when it stopped at an expired head.
    fn dispatch(&mut self, name: &str) -> bool {
        let State {
            queues, channels, ..
        } = self;
        let Some(q) = queues.get_mut(name) else {
            return false;
        };
        let mut now = None;
        while let Some(head) = q.ready.front() {
            if q.consumers.is_empty() {
                break;
            }
            if let Some(deadline) = head.expires_at {
                if deadline <= *now.get_or_insert_with(Instant::now) {
                    return true;
                }
            }
            let has_room =
                |c: &ConsumerRef| channels.get(&c.channel).is_some_and(ChannelState::has_room);
            let consumer = if q.options.single_active {
                let Some(consumer) = single_active(q, channels) else {
                    break;
                };
                if !has_room(&consumer) {
                    break;
                }
                consumer
            } else {
                let Some(index) = by_priority(q, has_room) else {
                    break;
                };
                q.consumers[index]
            };
            let msg = q.ready.pop_front().expect("the head was just inspected");
            let channel = channels
                .get_mut(&consumer.channel)
                .expect("the channel was just found");
            match channel.deliver(consumer.sink, &q.name, q.id, msg) {
                Ok(()) => q.stats.delivered += 1,
                Err(msg) => {
                    // The stream was dropped: forget this consumer.
                    q.return_ready(msg);
                    q.remove_consumers(|c| *c != consumer);
                    channel.forget_queue(consumer.sink, name);
                }
            }
        }
        false
    }
}
