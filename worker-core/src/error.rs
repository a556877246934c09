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

    /// The wrapped error, then its `source()`, then that one's, down to the
    /// root cause, as anyhow's `chain`.
    ///
    /// ```
    /// # use worker_core::Error;
    /// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk full");
    /// let e = Error::from(io);
    /// assert_eq!(e.chain().count(), 1);
    /// ```
    pub fn chain(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        let first: &(dyn std::error::Error + 'static) = &*self.source;
        std::iter::successors(Some(first), |e| e.source())
    }

    /// The last error of the [`chain`](Self::chain): the one with no source.
    pub fn root_cause(&self) -> &(dyn std::error::Error + 'static) {
        self.chain()
            .last()
            .expect("the chain holds at least the error itself")
    }

    /// The first error of the [`chain`](Self::chain) that is an `E`.
    ///
    /// ```
    /// # use worker_core::Error;
    /// let e = Error::reject(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
    /// let io = e.downcast_ref::<std::io::Error>().unwrap();
    /// assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.chain().find_map(|e| e.downcast_ref::<E>())
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

/// `{}` shows the error's own message; `{:#}` shows the whole
/// [`chain`](Error::chain), `outer: inner: root`, as anyhow does. The
/// runtime logs errors with `{:#}`.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)?;
        if f.alternate() {
            for cause in self.chain().skip(1) {
                write!(f, ": {cause}")?;
            }
        }
        Ok(())
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerErrorKind {
    /// The connection could not be made or was lost.
    Connection,
    /// A queue does not exist.
    QueueNotFound,
    /// An exchange does not exist.
    ExchangeNotFound,
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
    /// The broker, or this build of its backend, cannot do what was asked
    /// (a queue's arguments without the management API, for example).
    Unsupported,
}

/// An error from a [`Broker`](crate::broker::Broker) implementation.
#[derive(Debug, Clone)]
pub struct BrokerError {
    pub(crate) kind: BrokerErrorKind,
    pub(crate) message: String,
}

impl BrokerError {
    /// Builds an error of `kind` with a message.
    pub fn new(kind: BrokerErrorKind, message: impl Into<String>) -> Self {
        BrokerError {
            kind,
            message: message.into(),
        }
    }

    /// The category, used by the runtime to decide whether to retry.
    pub fn kind(&self) -> BrokerErrorKind {
        self.kind
    }

    /// Human-readable detail (never contains a password).
    pub fn message(&self) -> &str {
        &self.message
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

    /// An exchange that does not exist (a passive declare, or a binding
    /// to it, failed).
    pub fn exchange_not_found(exchange: &str) -> Self {
        Self::new(
            BrokerErrorKind::ExchangeNotFound,
            format!("exchange `{exchange}` does not exist"),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `outer` caused by `inner`, caused by an io error.
    #[derive(Debug)]
    struct Layer(
        &'static str,
        Option<Box<dyn std::error::Error + Send + Sync>>,
    );

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    fn three_deep() -> Error {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let inner = Layer("cannot reach the stock service", Some(Box::new(io)));
        Error::requeue(Layer("order 7 not reserved", Some(Box::new(inner))))
    }

    #[test]
    fn chain_root_cause_and_downcast_walk_the_sources() {
        let e = three_deep();
        let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
        assert_eq!(
            chain,
            [
                "order 7 not reserved",
                "cannot reach the stock service",
                "refused"
            ]
        );
        assert_eq!(e.root_cause().to_string(), "refused");
        let io = e
            .downcast_ref::<std::io::Error>()
            .expect("the root is an io error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(e.downcast_ref::<Layer>().unwrap().0, "order 7 not reserved");
        assert!(e.downcast_ref::<std::fmt::Error>().is_none());
        assert_eq!(e.action(), Some(Action::Requeue));
    }

    #[test]
    fn alternate_display_shows_the_chain() {
        let e = three_deep();
        assert_eq!(e.to_string(), "order 7 not reserved");
        assert_eq!(
            format!("{e:#}"),
            "order 7 not reserved: cannot reach the stock service: refused"
        );
        let plain = Error::msg("no such item");
        assert_eq!(format!("{plain:#}"), "no such item");
        assert_eq!(plain.root_cause().to_string(), "no such item");
    }
}
