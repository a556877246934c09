//! Per-queue counters of the embedded broker.

/// What happened in one queue of a [`MemoryBroker`](super::MemoryBroker),
/// as returned by [`MemoryBroker::stats`](super::MemoryBroker::stats).
///
/// `ready`, `unacked` and `consumers` are the current state (sizes, hence
/// `usize`); the other fields count events since the queue was declared.
/// Messages returned to the queue because their channel closed or its
/// connection dropped are not counted as nacks (they only count again in
/// `delivered` when redelivered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages waiting to be delivered.
    pub ready: usize,
    /// Messages delivered and not yet settled.
    pub unacked: usize,
    /// Consumers currently registered on the queue.
    pub consumers: usize,
    /// Messages that entered the queue by any route, dead-lettering included.
    pub published: u64,
    /// Deliveries made, redeliveries included.
    pub delivered: u64,
    /// Messages acked.
    pub acked: u64,
    /// Messages nacked with `requeue = true`.
    pub nacked_requeued: u64,
    /// Messages nacked or rejected without requeue (dead-lettered or dropped).
    pub rejected: u64,
    /// Messages that left this queue to its dead-letter exchange (rejected or
    /// expired).
    pub dead_lettered: u64,
    /// Messages whose TTL ran out in this queue.
    pub expired: u64,
}
