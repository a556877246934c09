//! Settlement: what happens to each message of a finished batch.
//!
//! For every message the settler picks an [`Action`]: the message's own
//! decision ([`Verdict::Decided`]), `on_decode_error` for a body that did
//! not decode, else by the outcome of the handler run that settled it
//! ([`Outcome`]): `on_success`, or the error's own action, or
//! `on_exception` ([`Policy`]). It then turns the action into a wire
//! operation:
//!
//! - `ack` acks;
//! - `requeue` nacks with requeue, or, with retries ([`Retries`]),
//!   republishes through a delay queue ([`retry`](self#retries)) and acks,
//!   until the attempts are used up and the message is dead-lettered;
//! - `reject` nacks without requeue, or, with a `dead_letter` queue,
//!   republishes there with the reason and acks.
//!
//! A republish that fails requeues the message instead: nothing is lost.
//! Acks are coalesced per channel by the [`AckTracker`]: the contiguous
//! acked prefix of the outstanding tags goes out as one multiple-ack.
//!
//! # Retries
//!
//! Attempt `n` waits `retry_backoff * 2^(n-1)` (capped at
//! [`MAX_RETRY_DELAY`]) in the delay queue `{queue}.retry.{ms}ms`, whose
//! TTL dead-letters the message back to its queue. The attempt count
//! travels in the `x-retry-count` header.

mod acks;
mod dead_letter;
mod plan;
mod republish;
mod retry;
mod settler;

use std::time::Duration;

pub use crate::action::{Action, Outcome};
pub(crate) use crate::action::{Resolution, Verdict};
pub(crate) use retry::delay_queue_options;
pub(crate) use retry::{delay_queue_name, retry_delay, MAX_RETRY_DELAY};
pub(crate) use settler::Settler;

/// How a route settles its messages: the actions of its options, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Action when the handler succeeds.
    pub on_success: Action,
    /// Action when the handler fails or panics.
    pub on_exception: Action,
    /// Action for a body that does not decode (never `Requeue`).
    pub on_decode_error: Action,
    /// Retries through delay queues; `None` requeues in place.
    pub retries: Option<Retries>,
    /// Queue that rejected and exhausted messages are published to.
    pub dead_letter: Option<&'static str>,
}

impl Policy {
    /// The action that settles a message.
    pub fn action(&self, (verdict, outcome): Resolution) -> Action {
        match (verdict, outcome) {
            (Verdict::Decided(a), _) => a,
            (Verdict::DecodeFailed, _) => self.on_decode_error,
            (Verdict::Undecided, Outcome::Succeeded) => self.on_success,
            (Verdict::Undecided, Outcome::Failed(Some(a))) => a,
            (Verdict::Undecided, Outcome::Failed(None)) => self.on_exception,
        }
    }
}

/// Retries of a route: `max` attempts after the first, the first waiting
/// `backoff`, each further one twice as long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Retries before dead-lettering.
    pub max: u32,
    /// Delay of the first retry.
    pub backoff: Duration,
}
