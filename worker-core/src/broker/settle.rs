//! [`Settle`]: how one delivery is settled on the wire, the same four ways
//! on both brokers.

/// How one delivery is settled on the wire: what the settler sends, and
/// what the embedded broker applies. [`Action`](crate::Action) is what a
/// handler decides; retries and dead-lettering turn it into one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// `basic.ack` (also after a retry or dead-letter republish).
    Ack,
    /// Back to the queue after a failed attempt (`basic.reject`, requeue:
    /// counted towards a quorum queue's delivery limit).
    Requeue,
    /// Back to the queue, not handled (`basic.nack`, requeue: not counted
    /// by RabbitMQ 4.3).
    Return,
    /// Discarded or dead-lettered (`basic.reject`, no requeue).
    Reject,
}
