//! # worker
//!
//! Write asynchronous workers as decorated `async fn`s. See the README and
//! `DESIGN.md` for the full contract.

#![warn(missing_docs)]

pub use worker_core::{
    Action, App, BrokerError, Delivery, Error, HeaderValue, Headers, Message, Properties,
    Publisher, State,
};
pub use worker_macros::{main, on_shutdown, on_startup, route};
pub use worker_core::registry;

#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use worker_core::extract::{
        assert_from_app, assert_from_batch, FromApp, FromBatch, IntoHandlerResult,
    };
    pub use worker_core::message::Batch;
    pub use worker_core::registry::{
        AmqpOptions, BoxFuture, EveryOptions, Hook, HookKind, HttpOptions, Location, Route,
        RouteKind, SseOptions,
    };
    pub use worker_core::config::MainOptions;
    pub use worker_core::Action;
    pub use std::time::Duration;
}
