//! Type erasure of HTTP handlers: a route record carries
//! `make: fn() -> Box<dyn Any + Send>`, whose value is an [`ErasedHandler`]
//! that the server downcasts and mounts for the route's methods.

use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};
use worker_core::App;

/// An axum handler with its types erased: builds the method router of the
/// handler for a set of methods.
pub struct ErasedHandler {
    make: Box<dyn Fn(MethodFilter) -> MethodRouter<App> + Send + Sync>,
}

impl ErasedHandler {
    /// The handler, routed for `methods`.
    pub fn method_router(&self, methods: MethodFilter) -> MethodRouter<App> {
        (self.make)(methods)
    }
}

impl std::fmt::Debug for ErasedHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErasedHandler").finish_non_exhaustive()
    }
}

/// Erases an axum handler whose state is [`App`]; called by the
/// `#[route(http)]` expansion (and by hand-written route records).
pub fn erase_handler<H, T>(handler: H) -> ErasedHandler
where
    H: Handler<T, App> + Clone + Send + Sync + 'static,
    T: 'static,
{
    ErasedHandler {
        make: Box::new(move |methods| axum::routing::on(methods, handler.clone())),
    }
}
