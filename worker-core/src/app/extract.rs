//! The traits that generated adapters call: handler arguments built from the
//! [`App`], and return types. (The first argument of an `amqp` handler is
//! built by [`FromBatch`](crate::batch::FromBatch).)
//!
//! The macro emits a call per argument, spanned at the argument's type, so a
//! wrong type is reported by rustc on that argument with the note below.

use super::{App, Publisher, State};
use crate::error::Error;

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
