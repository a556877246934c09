//! Ack coalescing: from per-message wire actions to broker operations.
//!
//! [`AckTracker`] keeps, per channel, the delivery tags that were handed to
//! handlers and not yet settled. Acks are coalesced: a finished batch marks
//! its tags acked, and the contiguous acked prefix of the outstanding tags is
//! settled with one `multiple` ack. A tag still held by another batch (with
//! `max_concurrency > 1`, batches finish out of order) stops the prefix, so a
//! multiple-ack never covers a message whose handler has not finished; those
//! acks go out with the next prefix. Rejects and requeues are sent
//! individually at once. Tag 0 is never acked, and no tag is settled twice.

use std::collections::VecDeque;

use crate::broker::Settle;

/// A broker operation on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `basic.ack`.
    Ack {
        /// Delivery tag.
        tag: u64,
        /// Also settles every outstanding tag below.
        multiple: bool,
    },
    /// `basic.reject` of one tag: a failed attempt.
    Reject {
        /// Delivery tag.
        tag: u64,
        /// Return to the queue (else discard or dead-letter).
        requeue: bool,
    },
    /// `basic.nack` with requeue of one tag: a message the runtime returns
    /// without having handled it (RabbitMQ 4.3 does not count it as a
    /// delivery attempt).
    Return {
        /// Delivery tag.
        tag: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagState {
    Held,
    Acked,
    /// Nacked on its own; kept until the prefix passes it.
    Settled,
}

/// Outstanding delivery tags of one channel.
///
/// Tags are held in delivery order, so they are kept in a `VecDeque` sorted
/// by tag (found by binary search); the acked prefix leaves from the front,
/// and the buffer is reused from batch to batch.
#[derive(Debug, Default)]
pub(crate) struct AckTracker {
    outstanding: VecDeque<(u64, TagState)>,
    /// Entries of `outstanding` not yet settled (`Held` or `Acked`).
    unsettled: usize,
}

impl AckTracker {
    /// An empty tracker (a new channel).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Registers tags handed to a handler, in delivery order.
    pub(crate) fn hold(&mut self, tags: impl IntoIterator<Item = u64>) {
        for tag in tags {
            debug_assert!(tag != 0, "delivery tag 0 is never valid");
            match self.outstanding.back() {
                Some(&(last, _)) if last >= tag => {
                    // Out of order (never on one channel): keep the order.
                    match self.find(tag) {
                        Ok(_) => continue,
                        Err(i) => self.outstanding.insert(i, (tag, TagState::Held)),
                    }
                }
                _ => self.outstanding.push_back((tag, TagState::Held)),
            }
            self.unsettled += 1;
        }
    }

    fn find(&self, tag: u64) -> Result<usize, usize> {
        self.outstanding.binary_search_by_key(&tag, |(t, _)| *t)
    }

    /// Tags handed to handlers and not yet finished.
    pub(crate) fn held_tags(&self) -> Vec<u64> {
        self.outstanding
            .iter()
            .filter(|(_, s)| *s == TagState::Held)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Number of tags not yet settled on the wire.
    #[cfg(test)]
    pub(crate) fn outstanding(&self) -> usize {
        self.unsettled
    }

    /// Settles a finished batch, appending the operations to send, in order.
    ///
    /// Tags that are not outstanding (never held, or already settled) are
    /// ignored, so nothing is settled twice.
    pub(crate) fn settle(&mut self, actions: &[(u64, Settle)], ops: &mut Vec<Op>) {
        for &(tag, action) in actions {
            let Ok(index) = self.find(tag) else {
                continue;
            };
            let state = &mut self.outstanding[index].1;
            if *state != TagState::Held {
                continue;
            }
            match action {
                Settle::Ack => *state = TagState::Acked,
                Settle::Requeue | Settle::Reject | Settle::Return => {
                    *state = TagState::Settled;
                    self.unsettled -= 1;
                    ops.push(match action {
                        Settle::Return => Op::Return { tag },
                        _ => Op::Reject {
                            tag,
                            requeue: action == Settle::Requeue,
                        },
                    });
                }
            }
        }
        self.flush_acked_prefix(ops);
    }

    fn flush_acked_prefix(&mut self, ops: &mut Vec<Op>) {
        let mut last = None;
        let mut count = 0usize;
        while let Some(&(tag, state)) = self.outstanding.front() {
            match state {
                TagState::Held => break,
                TagState::Acked => {
                    last = Some(tag);
                    count += 1;
                    self.unsettled -= 1;
                }
                TagState::Settled => {}
            }
            self.outstanding.pop_front();
        }
        if let Some(tag) = last {
            ops.push(Op::Ack {
                tag,
                multiple: count > 1,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Settle::*;

    fn ack(tag: u64, multiple: bool) -> Op {
        Op::Ack { tag, multiple }
    }

    fn reject(tag: u64, requeue: bool) -> Op {
        Op::Reject { tag, requeue }
    }

    fn settle(t: &mut AckTracker, actions: &[(u64, Settle)]) -> Vec<Op> {
        let mut ops = Vec::new();
        t.settle(actions, &mut ops);
        ops
    }

    #[test]
    fn contiguous_acks_become_one_multiple_ack() {
        let mut t = AckTracker::new();
        t.hold(1..=5);
        let ops = settle(&mut t, &[(1, Ack), (2, Ack), (3, Ack), (4, Ack), (5, Ack)]);
        assert_eq!(ops, vec![ack(5, true)]);
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn single_ack_is_not_multiple() {
        let mut t = AckTracker::new();
        t.hold([7]);
        assert_eq!(settle(&mut t, &[(7, Ack)]), vec![ack(7, false)]);
    }

    #[test]
    fn rejects_and_requeues_are_individual_and_do_not_block_acks() {
        let mut t = AckTracker::new();
        t.hold(1..=5);
        let ops = settle(
            &mut t,
            &[(1, Ack), (2, Requeue), (3, Reject), (4, Return), (5, Ack)],
        );
        assert_eq!(
            ops,
            vec![
                reject(2, true),
                reject(3, false),
                Op::Return { tag: 4 },
                ack(5, true)
            ]
        );
    }

    #[test]
    fn out_of_order_batches_never_ack_a_held_tag() {
        let mut t = AckTracker::new();
        t.hold(1..=3); // batch A
        t.hold(4..=6); // batch B
                       // B finishes first: its acks wait, nothing may cover 1..=3.
        assert_eq!(settle(&mut t, &[(4, Ack), (5, Ack), (6, Ack)]), vec![]);
        // A finishes: one multiple-ack covers both.
        assert_eq!(
            settle(&mut t, &[(1, Ack), (2, Ack), (3, Ack)]),
            vec![ack(6, true)]
        );
    }

    #[test]
    fn out_of_order_with_a_requeue_in_the_older_batch() {
        let mut t = AckTracker::new();
        t.hold(1..=2);
        t.hold(3..=4);
        assert_eq!(
            settle(&mut t, &[(3, Ack), (4, Requeue)]),
            vec![reject(4, true)]
        );
        assert_eq!(
            settle(&mut t, &[(1, Requeue), (2, Ack)]),
            vec![reject(1, true), ack(3, true)]
        );
    }

    #[test]
    fn unknown_and_already_settled_tags_are_ignored() {
        let mut t = AckTracker::new();
        t.hold([1]);
        assert_eq!(settle(&mut t, &[(1, Ack)]).len(), 1);
        assert_eq!(settle(&mut t, &[(1, Ack), (1, Reject), (99, Ack)]), vec![]);
    }

    #[test]
    fn the_prefix_stops_at_a_held_tag_of_the_same_batch_set() {
        let mut t = AckTracker::new();
        t.hold(1..=3);
        assert_eq!(settle(&mut t, &[(2, Ack), (3, Ack)]), vec![]);
        assert_eq!(settle(&mut t, &[(1, Ack)]), vec![ack(3, true)]);
    }
}
