//! Error types: the boxed handler [`Error`] and the [`BrokerError`] of backends.

use std::fmt;

/// The error a handler or hook returns: a boxed `std::error::Error`.
///
/// Any `std::error::Error + Send + Sync + 'static` converts into it with `?`,
/// as with `anyhow::Error`. Strings convert too: `Err("no such item".into())`.
pub struct Error(Box<dyn std::error::Error + Send + Sync + 'static>);

impl Error {
    /// Builds an error from a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error(message.to_string().into())
    }

    /// The boxed source error.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.0
    }
}

impl<E> From<E> for Error
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    fn from(e: E) -> Self {
        Error(e.into())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What went wrong talking to a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerErrorKind {
    /// The connection could not be made or was lost.
    Connection,
    /// A queue does not exist.
    QueueNotFound,
    /// The broker refused an operation (permissions, precondition).
    Refused,
    /// The channel or consumer was closed.
    Closed,
    /// A published message was not confirmed.
    NotConfirmed,
    /// A published message reached no queue (no queue of that name, or
    /// nothing bound to the exchange with that routing key): the broker did
    /// not store it. Publishes are `mandatory`, so this is never silent.
    Unroutable,
}

/// An error from a [`Broker`](crate::broker::Broker) implementation.
#[derive(Debug, Clone)]
pub struct BrokerError {
    /// The category, used by the runtime to decide whether to retry.
    pub kind: BrokerErrorKind,
    /// Human-readable detail (never contains a password).
    pub message: String,
}

impl BrokerError {
    /// Builds an error of `kind` with a message.
    pub fn new(kind: BrokerErrorKind, message: impl Into<String>) -> Self {
        BrokerError {
            kind,
            message: message.into(),
        }
    }

    /// A publish to `exchange` with `routing_key` reached no queue.
    pub fn unroutable(exchange: &str, routing_key: &str) -> Self {
        let message = if exchange.is_empty() {
            format!("no queue named `{routing_key}`: the message was not stored")
        } else {
            format!(
                "no queue is bound to exchange `{exchange}` with routing key `{routing_key}`: the message was not stored"
            )
        };
        BrokerError::new(BrokerErrorKind::Unroutable, message)
    }

    /// A lost or refused connection.
    pub fn connection(message: impl Into<String>) -> Self {
        Self::new(BrokerErrorKind::Connection, message)
    }

    /// A queue that does not exist.
    pub fn queue_not_found(queue: &str) -> Self {
        Self::new(
            BrokerErrorKind::QueueNotFound,
            format!("queue `{queue}` does not exist"),
        )
    }

    /// A closed channel or consumer.
    pub fn closed(message: impl Into<String>) -> Self {
        Self::new(BrokerErrorKind::Closed, message)
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BrokerError {}
