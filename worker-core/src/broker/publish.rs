//! Publishing many messages at once: [`Outgoing`] messages are published
//! pipelined on one channel ([`Channel::publish_each`]), and
//! [`PublishError`] says which one failed and how many before it were
//! confirmed.
//!
//! [`Channel::publish_each`]: super::Channel::publish_each

use std::fmt;

use super::Properties;
use crate::error::{BrokerError, BrokerErrorKind};

/// One message to publish, borrowed from its owner.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Outgoing<'a> {
    /// The exchange (`""`: the default exchange, which routes to the queue
    /// named by the routing key).
    pub exchange: &'a str,
    /// The routing key (with the default exchange, the queue's name).
    pub routing_key: &'a str,
    /// The body.
    pub body: &'a [u8],
    /// Properties and headers.
    pub properties: &'a Properties,
}

/// A publish of several messages that failed: the first failure, and how
/// many messages before it were confirmed by the broker (so that the
/// caller retries from there; messages after it may have been stored too,
/// so a retry can duplicate them: consumers deduplicate or are idempotent).
#[derive(Debug)]
pub struct PublishError {
    confirmed: usize,
    total: usize,
    error: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl PublishError {
    /// The error of message `confirmed` (0-based) of `total`, all messages
    /// before it confirmed.
    pub fn new(
        confirmed: usize,
        total: usize,
        error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        PublishError {
            confirmed,
            total,
            error: error.into(),
        }
    }

    /// The messages before the failed one, all confirmed: retry from
    /// index `confirmed()`.
    pub fn confirmed(&self) -> usize {
        self.confirmed
    }

    /// How many messages the call was given.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The broker's error, when the broker failed (not the encoding).
    pub fn broker_error(&self) -> Option<&BrokerError> {
        self.error.downcast_ref::<BrokerError>()
    }

    /// The kind of the broker's error (`Unroutable`, `NotConfirmed`,
    /// `Connection`, ...).
    pub fn kind(&self) -> Option<&BrokerErrorKind> {
        self.broker_error().map(|e| &e.kind)
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message {} of {} failed ({} confirmed before it): {}",
            self.confirmed + 1,
            self.total,
            self.confirmed,
            self.error
        )
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

/// The first failure of `results` (one per message, in order), as a
/// [`PublishError`] counting from `offset`; `Ok` when every one succeeded.
pub(crate) fn first_failure(
    results: Vec<Result<(), BrokerError>>,
    offset: usize,
    total: usize,
) -> Result<(), PublishError> {
    let failed = results
        .into_iter()
        .enumerate()
        .find_map(|(i, r)| r.err().map(|e| (i, e)));
    match failed {
        None => Ok(()),
        Some((i, e)) => Err(PublishError::new(offset + i, total, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_counts_what_was_confirmed_before_it() {
        let ok = || Ok(());
        let unroutable = || Err(BrokerError::unroutable("", "nowhere"));
        assert!(first_failure(vec![ok(), ok()], 0, 2).is_ok());
        let e = first_failure(vec![ok(), unroutable(), ok(), unroutable()], 3, 7).unwrap_err();
        assert_eq!((e.confirmed(), e.total()), (4, 7));
        assert_eq!(e.kind(), Some(&BrokerErrorKind::Unroutable));
        assert_eq!(
            e.to_string(),
            "message 5 of 7 failed (4 confirmed before it): no queue named `nowhere`: the message was not stored"
        );
    }
}
