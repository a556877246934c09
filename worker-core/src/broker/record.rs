//! What the runtime keeps on a broker besides messages: a lock held by one
//! process at a time ([`SlotLock`], the `singleton` of cron routes) and a
//! single value that survives restarts ([`Record`]: the last fired slot of
//! a `catch_up` cron route, the resume point of an `sse` route). The
//! runtime implements both over any [`Broker`](super::Broker).

use crate::error::BrokerError;
use crate::future::BoxFuture;

/// Who holds a [`SlotLock`] now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// This process: it acts.
    Mine,
    /// Another process.
    Elsewhere,
    /// Nobody can tell: the lock's broker does not answer.
    Unreachable(String),
}

/// A lock held by one process at a time.
pub trait SlotLock: Send + Sync + 'static {
    /// Who holds the lock now, taking it if it is free.
    fn hold(&self) -> BoxFuture<'_, Hold>;
}

/// One value kept on a broker, replaced by each store.
pub trait Record: Send + Sync + 'static {
    /// The value last stored, if any.
    fn read(&self) -> BoxFuture<'_, Result<Option<String>, BrokerError>>;
    /// Stores `value` in place of the previous one, confirmed by the broker.
    fn store(&self, value: String) -> BoxFuture<'_, Result<(), BrokerError>>;
}
