//! The application handle: typed shared state, publishers and shutdown.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::broker::QueueOptions;
use crate::error::{BrokerError, Error};
use crate::message::Properties;
use crate::registry::BoxFuture;

type StateMap = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

/// Something that publishes to a broker connection (implemented by the runtime
/// for each configured connection).
pub trait PublishSink: Send + Sync + 'static {
    /// Publishes one message and waits for the broker's confirm.
    fn publish<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        body: Vec<u8>,
        properties: Properties,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;

    /// Declares a queue (idempotent when the options match).
    fn declare_queue<'a>(
        &'a self,
        queue: &'a str,
        options: &'a QueueOptions,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;
}

struct AppInner {
    state: RwLock<StateMap>,
    publishers: RwLock<HashMap<String, Arc<dyn PublishSink>>>,
    shutdown: CancellationToken,
}

/// The application: cloneable, shared by hooks, handlers and tasks.
///
/// It holds typed state (one value per type, as axum's `Extension`s):
/// [`insert`](App::insert) it in an `#[on_startup]` hook, read it anywhere
/// with [`get`](App::get) or the [`State`] extractor. Unlike asyncworker's
/// dict-like app, state can be inserted at any time; there is no freeze.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.inner.state.read().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("App").field("state_values", &n).finish()
    }
}

impl App {
    /// An empty application.
    pub fn new() -> Self {
        App {
            inner: Arc::new(AppInner {
                state: RwLock::new(HashMap::new()),
                publishers: RwLock::new(HashMap::new()),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// Stores `value` as the state of type `T`, returning the previous one.
    pub fn insert<T: Send + Sync + 'static>(&self, value: T) -> Option<Arc<T>> {
        let prev = self
            .inner
            .state
            .write()
            .expect("app state lock poisoned")
            .insert(TypeId::of::<T>(), Arc::new(value));
        prev.and_then(|p| p.downcast::<T>().ok())
    }

    /// The state of type `T`, if inserted.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner
            .state
            .read()
            .expect("app state lock poisoned")
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }

    /// The state of type `T`, or an error that says how to provide it.
    pub fn try_get<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, Error> {
        self.get::<T>().ok_or_else(|| {
            Error::msg(format!(
                "no state of type `{}`: insert it with `app.insert(..)` in an #[on_startup] hook",
                std::any::type_name::<T>()
            ))
        })
    }

    /// Removes and returns the state of type `T`.
    pub fn remove<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner
            .state
            .write()
            .expect("app state lock poisoned")
            .remove(&TypeId::of::<T>())
            .and_then(|v| v.downcast::<T>().ok())
    }

    /// A publisher on the default connection.
    pub fn publisher(&self) -> Result<Publisher, Error> {
        self.publisher_for("default")
    }

    /// A publisher on the named connection (`WORKER_AMQP_<NAME>_URL`).
    pub fn publisher_for(&self, connection: &str) -> Result<Publisher, Error> {
        let sinks = self
            .inner
            .publishers
            .read()
            .expect("publisher lock poisoned");
        match sinks.get(connection) {
            Some(sink) => Ok(Publisher { sink: sink.clone() }),
            None => Err(Error::msg(format!(
                "no amqp connection named `{connection}` (configured: {})",
                if sinks.is_empty() {
                    "none".to_owned()
                } else {
                    let mut names: Vec<_> = sinks.keys().map(|k| format!("`{k}`")).collect();
                    names.sort();
                    names.join(", ")
                }
            ))),
        }
    }

    /// Registers the publisher of a connection (done by the runtime).
    pub fn set_publisher(&self, connection: &str, sink: Arc<dyn PublishSink>) {
        self.inner
            .publishers
            .write()
            .expect("publisher lock poisoned")
            .insert(connection.to_owned(), sink);
    }

    /// A token cancelled when the application starts shutting down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Starts a graceful shutdown, as SIGTERM would.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }
}

/// Extractor for typed application state, as axum's `State`.
///
/// `State(db): State<Db>` reads the value inserted with `app.insert(db)`; if
/// none was inserted the handler fails with an error naming the type.
pub struct State<T>(pub Arc<T>);

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(self.0.clone())
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&self.0).finish()
    }
}

/// Publishes messages on a broker connection, waiting for confirms.
///
/// Publishes are `mandatory`: a message that reaches no queue is an error
/// (`BrokerErrorKind::Unroutable`), never a silent drop. Declare the queue
/// first ([`Publisher::declare_queue`]) when it may not exist yet.
#[derive(Clone)]
pub struct Publisher {
    sink: Arc<dyn PublishSink>,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Builds a publisher from a sink.
    pub fn new(sink: Arc<dyn PublishSink>) -> Self {
        Publisher { sink }
    }

    /// Publishes `value` as JSON (`content_type = application/json`).
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        exchange: &str,
        routing_key: &str,
        value: &T,
    ) -> Result<(), Error> {
        self.publish_with(exchange, routing_key, value, Properties::default())
            .await
    }

    /// Publishes `value` as JSON with properties and headers.
    pub async fn publish_with<T: Serialize + ?Sized>(
        &self,
        exchange: &str,
        routing_key: &str,
        value: &T,
        mut properties: Properties,
    ) -> Result<(), Error> {
        let body = serde_json::to_vec(value)?;
        properties
            .content_type
            .get_or_insert_with(|| "application/json".to_owned());
        self.publish_raw(exchange, routing_key, body, properties)
            .await
    }

    /// Declares a durable queue, e.g. before publishing to it from a startup
    /// hook (routes with `declare = true` declare theirs when they start).
    pub async fn declare_queue(&self, queue: &str) -> Result<(), Error> {
        self.declare_queue_with(queue, &QueueOptions::durable())
            .await
    }

    /// Declares a queue with explicit options.
    pub async fn declare_queue_with(
        &self,
        queue: &str,
        options: &QueueOptions,
    ) -> Result<(), Error> {
        self.sink
            .declare_queue(queue, options)
            .await
            .map_err(Error::from)
    }

    /// Publishes raw bytes (possibly empty) with properties.
    pub async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: Vec<u8>,
        properties: Properties,
    ) -> Result<(), Error> {
        self.sink
            .publish(exchange, routing_key, body, properties)
            .await
            .map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::FromApp;

    #[derive(Debug, PartialEq)]
    struct Db(u32);

    #[test]
    fn typed_state_is_shared_by_clones_and_replaceable() {
        let app = App::new();
        assert!(app.get::<Db>().is_none());
        assert!(app.insert(Db(1)).is_none());
        let clone = app.clone();
        assert_eq!(*clone.get::<Db>().unwrap(), Db(1));
        assert_eq!(*app.insert(Db(2)).unwrap(), Db(1));
        let State(db) = State::<Db>::from_app(&clone).unwrap();
        assert_eq!(*db, Db(2));
        assert_eq!(*app.remove::<Db>().unwrap(), Db(2));
    }

    #[test]
    fn missing_state_and_publisher_errors_say_what_to_do() {
        let app = App::new();
        let e = State::<Db>::from_app(&app).unwrap_err().to_string();
        assert!(e.contains("Db") && e.contains("#[on_startup]"), "{e}");
        let e = app.publisher_for("eu").unwrap_err().to_string();
        assert!(e.contains("`eu`") && e.contains("none"), "{e}");
    }

    #[test]
    fn shutdown_is_observable() {
        let app = App::new();
        let token = app.shutdown_token();
        assert!(!app.is_shutting_down());
        app.clone().shutdown();
        assert!(token.is_cancelled() && app.is_shutting_down());
    }
}
