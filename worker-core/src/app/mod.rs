//! The application handle ([`App`]): typed shared state, the publishers of
//! the configured connections, and shutdown; and what handlers take from
//! it: [`State`], [`Publisher`], and the extractor traits the generated
//! adapters call ([`extract`]).

#[cfg(feature = "http")]
mod axum;
pub(crate) mod extract;
mod publisher;
mod startup;
mod state;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::future::BoxFuture;

#[cfg(feature = "http")]
pub use self::axum::{json_error, MissingState};
pub use publisher::PublishSink;
pub use publisher::Publisher;
pub use state::State;

/// The adapter of `every` routes and hooks: extract the arguments from the
/// [`App`], call the user's fn.
pub(crate) type AppHandlerFn = fn(App) -> BoxFuture<'static, Result<(), Error>>;

type StateMap = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

struct AppInner {
    state: RwLock<StateMap>,
    publishers: RwLock<HashMap<String, Arc<dyn PublishSink>>>,
    shutdown: CancellationToken,
    startup: Arc<startup::Startup>,
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
                startup: Arc::default(),
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
            Some(sink) => Ok(Publisher::new(sink.clone())),
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

    /// Registers the publisher of a connection (done by the runtime). Its
    /// operations wait for the broker during startup.
    pub fn set_publisher(&self, connection: &str, sink: Arc<dyn PublishSink>) {
        let sink = publisher::waiting_at_startup(sink, self.inner.startup.clone());
        self.inner
            .publishers
            .write()
            .expect("publisher lock poisoned")
            .insert(connection.to_owned(), sink);
    }

    /// Whether startup is over: the queues declared, the startup hooks
    /// run, the routes started.
    pub fn is_started(&self) -> bool {
        self.inner.startup.is_started()
    }

    /// Waits until startup is over ([`is_started`](Self::is_started)).
    pub async fn started(&self) {
        self.inner.startup.started().await;
    }

    /// Broker operations wait for their broker up to `timeout` from now
    /// (the runtime, as startup begins).
    pub(crate) fn begin_startup(&self, timeout: std::time::Duration) {
        self.inner.startup.begin(timeout);
    }

    /// Startup is over (the runtime, once the routes started).
    pub(crate) fn finish_startup(&self) {
        self.inner.startup.finish();
    }

    /// Startup failed: broker operations no longer wait.
    pub(crate) fn abandon_startup(&self) {
        self.inner.startup.abandon();
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

#[cfg(test)]
mod tests {
    use super::extract::FromApp;
    use super::*;

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
