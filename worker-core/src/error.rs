//! Error types: the boxed handler [`Error`] and the [`BrokerError`] of backends.

use std::fmt;

use crate::settlement::Action;

/// The error a handler or hook returns: a boxed `std::error::Error`, and
/// optionally the action its messages get.
///
/// Any `std::error::Error + Send + Sync + 'static` converts into it with `?`,
/// as with `anyhow::Error`. Strings convert too: `Err("no such item".into())`.
/// Such an error applies the route's `on_exception` (and, with
/// `bisect = true`, is bisected to find the messages that fail).
///
/// [`Error::reject`], [`Error::requeue`] and [`Error::ack`] wrap any error
/// with the action that the batch's messages without a decision of their
/// own get instead. With `bisect = true` such an error is bisected like a
/// plain one, and its action applies to the messages its runs isolate
/// (the others succeed in their halves and get `on_success`):
///
/// ```
/// # use worker_core::Error;
/// # fn parse(_: &[u8]) -> Result<u32, std::num::ParseIntError> { "1".parse() }
/// fn check(body: &[u8]) -> Result<u32, Error> {
///     // A body that can never be valid: do not retry it.
///     parse(body).map_err(Error::reject)
/// }
/// ```
pub struct Error {
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
    action: Option<Action>,
    status: Option<u16>,
}

impl Error {
    /// Builds an error from a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::from(message.to_string())
    }

    /// `error`, whose messages are rejected (dead-lettered where the route
    /// has a `dead_letter` queue) instead of getting `on_exception`.
    pub fn reject(error: impl Into<Error>) -> Self {
        error.into().with_action(Action::Reject)
    }

    /// `error`, whose messages are requeued (retried, with `max_retries`)
    /// instead of getting `on_exception`.
    pub fn requeue(error: impl Into<Error>) -> Self {
        error.into().with_action(Action::Requeue)
    }

    /// `error`, whose messages are acked (dropped) instead of getting
    /// `on_exception`; the error is still logged and counted.
    pub fn ack(error: impl Into<Error>) -> Self {
        error.into().with_action(Action::Ack)
    }

    /// The same error, with `action` for its messages.
    pub fn with_action(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }

    /// The action this error names for its messages; `None` applies the
    /// route's `on_exception`.
    pub fn action(&self) -> Option<Action> {
        self.action
    }

    /// `error` as the answer of an `http` route: `status` (a number or an
    /// `http::StatusCode`) with `{"error": "<error>", "status": status}`.
    /// Without a status, an error returned by an `http` handler is a
    /// `500` whose body does not show it (it is logged instead).
    ///
    /// ```
    /// # use worker_core::Error;
    /// fn find(id: u64) -> Result<String, Error> {
    ///     Err(Error::http(404, format!("no order {id}")))
    /// }
    /// assert_eq!(find(7).unwrap_err().status(), Some(404));
    /// ```
    pub fn http(status: impl IntoStatus, error: impl Into<Error>) -> Self {
        error.into().with_status(status)
    }

    /// The same error, answered with `status` by an `http` route.
    pub fn with_status(mut self, status: impl IntoStatus) -> Self {
        self.status = Some(status.into_status());
        self
    }

    /// The HTTP status chosen with [`Error::http`], if any.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The boxed source error.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.source
    }
}

impl<E> From<E> for Error
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    fn from(e: E) -> Self {
        Error {
            source: e.into(),
            action: None,
            status: None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.action {
            Some(a) => write!(f, "{:?} ({a})", self.source),
            None => fmt::Debug::fmt(&self.source, f),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

/// An HTTP status for [`Error::http`]: a number (`404`) or, with the
/// `http` feature, an `http::StatusCode`. A number that is not a status
/// (outside 100..=999) answers `500`.
pub trait IntoStatus {
    /// The status code.
    fn into_status(self) -> u16;
}

impl IntoStatus for u16 {
    fn into_status(self) -> u16 {
        self
    }
}

/// Integer literals (`404`) are `i32` unless told otherwise.
impl IntoStatus for i32 {
    fn into_status(self) -> u16 {
        u16::try_from(self).unwrap_or(0)
    }
}

#[cfg(feature = "http")]
impl IntoStatus for http::StatusCode {
    fn into_status(self) -> u16 {
        self.as_u16()
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
    /// The broker cancelled a consumer (`basic.cancel`): its queue was
    /// deleted, its leader moved, or the consumer held a delivery past its
    /// consumer timeout. The runtime subscribes again.
    Cancelled,
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
