//! Dispatch: moving ready messages into consumers' prefetch windows,
//! round-robin, after expiring the messages whose deadline passed.

use tokio::time::Instant;

use super::channel_state::ChannelState;
use super::dead_letter::DeathReason;
use super::state::State;

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
            // Single active consumer: only the first one is a candidate.
            let n = if q.options.single_active {
                1
            } else {
                q.consumers.len()
            };
            let Some(index) = (0..n).map(|i| (q.cursor + i) % n).find(|&i| {
                channels
                    .get(&q.consumers[i].channel)
                    .is_some_and(ChannelState::has_room)
            }) else {
                break;
            };
            let consumer = q.consumers[index];
            q.cursor = (index + 1) % q.consumers.len();
            let msg = q.ready.pop_front().expect("the head was just inspected");
            let channel = channels
                .get_mut(&consumer.channel)
                .expect("the channel was just found");
            match channel.deliver(consumer.sink, &q.name, q.id, msg) {
                Ok(()) => q.stats.delivered += 1,
                Err(msg) => {
                    // The stream was dropped: forget this consumer.
                    q.ready.push_front(msg);
                    q.remove_consumers(|c| *c != consumer);
                    channel.forget_queue(consumer.sink, name);
                }
            }
        }
        false
    }
}
