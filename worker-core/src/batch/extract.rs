//! [`FromBatch`]: how the generated adapter of an `amqp` route builds the
//! handler's first argument from the [`Batch`].

use serde::de::DeserializeOwned;

use super::{Batch, Message};

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

/// Compile-time check emitted at the first argument of an `amqp` handler.
pub fn assert_from_batch<T: FromBatch>() {}
