//! The traits that generated adapters call: handler arguments and return types.
//!
//! The macro emits a call per argument, spanned at the argument's type, so a
//! wrong type is reported by rustc on that argument with the note below.

use serde::de::DeserializeOwned;

use crate::app::{App, Publisher, State};
use crate::error::Error;
use crate::message::{Batch, Message};

/// A handler argument built from the [`App`]: `App`, `State<T>`, `Publisher`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler argument",
    label = "not an extractor",
    note = "arguments after the messages must be `worker::App`, `worker::State<T>` or `worker::Publisher`"
)]
pub trait FromApp: Sized {
    /// Builds the argument.
    fn from_app(app: &App) -> Result<Self, Error>;
}

impl FromApp for App {
    fn from_app(app: &App) -> Result<Self, Error> {
        Ok(app.clone())
    }
}

impl<T: Send + Sync + 'static> FromApp for State<T> {
    fn from_app(app: &App) -> Result<Self, Error> {
        app.try_get::<T>().map(State)
    }
}

impl FromApp for Publisher {
    fn from_app(app: &App) -> Result<Self, Error> {
        app.publisher()
    }
}

/// The first argument of an `amqp` handler: `Vec<Message<T>>`.
#[diagnostic::on_unimplemented(
    message = "the first argument of an `amqp` handler must be `Vec<Message<T>>`, not `{Self}`",
    label = "expected `Vec<Message<T>>`",
    note = "`T` must implement `serde::de::DeserializeOwned`; `Vec<Message>` receives `serde_json::Value`s"
)]
pub trait FromBatch: Sized {
    /// Decodes the batch; `None` when no message decoded (the handler is not called).
    fn from_batch(batch: &Batch) -> Option<Self>;
}

impl<T: DeserializeOwned> FromBatch for Vec<Message<T>> {
    fn from_batch(batch: &Batch) -> Option<Self> {
        let msgs = batch.decode::<T>();
        (!msgs.is_empty()).then_some(msgs)
    }
}

/// What a handler may return: `()` or `Result<(), E>` with `E: Into<worker::Error>`.
#[diagnostic::on_unimplemented(
    message = "a worker handler must return `()` or `Result<(), E>`, not `{Self}`",
    label = "unsupported return type",
    note = "`E` can be `worker::Error` or any `std::error::Error + Send + Sync + 'static`"
)]
pub trait IntoHandlerResult {
    /// Converts the return value.
    fn into_handler_result(self) -> Result<(), Error>;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> Result<(), Error> {
        Ok(())
    }
}

impl<E: Into<Error>> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> Result<(), Error> {
        self.map_err(Into::into)
    }
}

/// Compile-time check emitted by the macro at an extractor argument's span.
pub fn assert_from_app<T: FromApp>() {}

/// Compile-time check emitted at the first argument of an `amqp` handler.
pub fn assert_from_batch<T: FromBatch>() {}
