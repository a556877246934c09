//! What happens to a message once its handler has finished ([`Action`]),
//! what the handler or the decoder said about it ([`Verdict`]), and how the
//! handler run that decided it ended ([`Outcome`]).

use std::fmt;

/// The settlement of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// What the handler (or the decoder) said about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No per-message decision: the route's policy applies.
    Undecided,
    /// An explicit `ack()`, `reject()` or `requeue()`.
    Decided(Action),
    /// The body did not decode; the route's `on_decode_error` applies.
    DecodeFailed,
}

/// How the handler run that settled a message ended (with `bisect`, the
/// last run the message took part in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler returned `Ok`: `on_success` applies.
    Succeeded,
    /// The handler failed (error, panic or timeout): the error's own action
    /// if it named one ([`Error::reject`](crate::Error::reject), ...), else
    /// `on_exception`.
    Failed(Option<Action>),
}

/// What settles one message: its verdict, and the outcome of its run.
pub(crate) type Resolution = (Verdict, Outcome);
