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

/// The JSON schema of a route's message type, for `topology --format
/// asyncapi`: the type's own (`schemars::JsonSchema`) with the `schemars`
/// feature, else an open schema. Chosen by autoref on the handler's first
/// argument `B` (`Vec<Message<T>>`): `(&Probe::<B>::new()).payload_schema()`
/// with both traits in scope picks [`WithSchema`](schema::WithSchema) when `T` implements
/// `JsonSchema`, else [`Open`](schema::Open) (also for a wrong first argument, which the
/// adapter reports).
pub mod schema {
    use std::marker::PhantomData;

    /// A type to describe.
    pub struct Probe<T>(PhantomData<T>);

    impl<T> std::fmt::Debug for Probe<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Probe<{}>", std::any::type_name::<T>())
        }
    }

    impl<T> Probe<T> {
        /// The probe of `T`.
        pub fn new() -> Self {
            Probe(PhantomData)
        }
    }

    impl<T> Default for Probe<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// The open schema: any JSON.
    pub trait Open {
        /// `{}`.
        fn payload_schema(&self) -> serde_json::Value {
            serde_json::json!({})
        }
    }

    impl<T> Open for &Probe<T> {}

    /// The type's own schema.
    pub trait WithSchema {
        /// The schema `schemars` generates.
        fn payload_schema(&self) -> serde_json::Value;
    }

    /// Draft 7 (the base of AsyncAPI's schema format), every subschema
    /// inlined so that no `$ref` points outside the payload.
    #[cfg(feature = "schemars")]
    impl<T: schemars::JsonSchema> WithSchema for Probe<Vec<super::Message<T>>> {
        fn payload_schema(&self) -> serde_json::Value {
            let mut settings = schemars::generate::SchemaSettings::draft07();
            settings.inline_subschemas = true;
            let schema = settings.into_generator().into_root_schema_for::<T>();
            let mut value = serde_json::to_value(schema).unwrap_or_else(|_| serde_json::json!({}));
            if let Some(object) = value.as_object_mut() {
                object.remove("$schema");
            }
            value
        }
    }
}
