//! What happens to a message once its handler has finished.

use std::fmt;

/// The settlement of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Remove the message from its queue.
    Ack,
    /// Discard the message, or dead-letter it where the queue or route has a
    /// dead-letter target.
    Reject,
    /// Return the message to its queue (with retries configured: republish it
    /// through a delay queue and count the attempt).
    Requeue,
}

impl Action {
    /// The lowercase name used in the route attribute (`ack`, `reject`, `requeue`).
    pub const fn name(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Reject => "reject",
            Action::Requeue => "requeue",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
