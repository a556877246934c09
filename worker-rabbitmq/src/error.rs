//! Mapping lapin errors to [`BrokerError`]s.

use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::ErrorKind;
use worker_core::backend::error::{BrokerError, BrokerErrorKind};

/// Maps a lapin error from `operation` (e.g. "queue.declare `q`") to the
/// runtime's categories: channel-level refusals (403, 404, 405, 406, 311)
/// are `Refused` (callers that know a 404 means a missing queue check
/// [`is_not_found`] first), other channel closures are `Closed`, everything
/// else (I/O, heartbeat, connection-level errors) is `Connection`.
pub(crate) fn map(operation: &str, error: &lapin::Error) -> BrokerError {
    let kind = match error.kind() {
        ErrorKind::ProtocolError(e) => match e.kind() {
            AMQPErrorKind::Soft(
                AMQPSoftError::ACCESSREFUSED
                | AMQPSoftError::NOTFOUND
                | AMQPSoftError::RESOURCELOCKED
                | AMQPSoftError::PRECONDITIONFAILED
                | AMQPSoftError::CONTENTTOOLARGE,
            ) => BrokerErrorKind::Refused,
            AMQPErrorKind::Soft(_) => BrokerErrorKind::Closed,
            AMQPErrorKind::Hard(_) => BrokerErrorKind::Connection,
        },
        ErrorKind::InvalidChannelState(..) | ErrorKind::InvalidChannel(_) => {
            BrokerErrorKind::Closed
        }
        _ => BrokerErrorKind::Connection,
    };
    BrokerError::new(kind, format!("{operation} failed: {error}"))
}

/// Whether `error` is the broker's 404 NOT_FOUND.
pub(crate) fn is_not_found(error: &lapin::Error) -> bool {
    matches!(error.kind(), ErrorKind::ProtocolError(e)
        if e.kind() == &AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
}
