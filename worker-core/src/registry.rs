//! Link-time route and hook registry.
//!
//! `#[route]`, `#[on_startup]` and `#[on_shutdown]` each emit one
//! `inventory::submit!` of a const record defined here. The runtime collects
//! and sorts them (inventory's order is unspecified); the explicit builder
//! API ([`crate::runtime::Runtime::builder`]) takes the same records.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::action::Action;
use crate::app::App;
use crate::error::Error;
use crate::message::Batch;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The adapter the macro generates for an `amqp` route: decode, extract, call.
pub type BatchHandlerFn = fn(Batch, App) -> BoxFuture<'static, Result<(), Error>>;

/// The adapter for `every` routes and hooks.
pub type AppHandlerFn = fn(App) -> BoxFuture<'static, Result<(), Error>>;

/// Where a handler was declared, for route tables and conflict messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
    /// `column!()`.
    pub column: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Options of an `amqp` route, as validated by the macro.
#[derive(Debug, Clone, Copy)]
pub struct AmqpOptions {
    /// Queues consumed by the route (non-empty, distinct).
    pub queues: &'static [&'static str],
    /// Messages per batch (before clamping to the prefetch).
    pub bulk_size: u16,
    /// Flush deadline of a partial batch; `None` uses `WORKER_FLUSH_TIMEOUT`.
    pub bulk_flush_interval: Option<Duration>,
    /// Action when the handler succeeds.
    pub on_success: Action,
    /// Action when the handler fails or panics.
    pub on_exception: Action,
    /// Action for a body that does not decode (never `Requeue`).
    pub on_decode_error: Action,
    /// Batches in flight at once.
    pub max_concurrency: u32,
    /// Retries before dead-lettering; `None` means requeue in place.
    pub max_retries: Option<u32>,
    /// Delay of the first retry, doubled for each further attempt.
    pub retry_backoff: Option<Duration>,
    /// Queue that rejected and exhausted messages are published to.
    pub dead_letter: Option<&'static str>,
    /// Named connection (`WORKER_AMQP_<NAME>_URL`); `None` is the default one.
    pub connection: Option<&'static str>,
    /// Vhost override.
    pub vhost: Option<&'static str>,
    /// Per-route prefetch override.
    pub prefetch: Option<u16>,
    /// Declare the queues (durable) at startup instead of only checking them.
    pub declare: bool,
    /// Declare them as quorum queues.
    pub quorum: bool,
}

impl AmqpOptions {
    /// The defaults of DESIGN.md section 2, with the given queues.
    pub const fn new(queues: &'static [&'static str]) -> Self {
        AmqpOptions {
            queues,
            bulk_size: 1,
            bulk_flush_interval: None,
            on_success: Action::Ack,
            on_exception: Action::Requeue,
            on_decode_error: Action::Reject,
            max_concurrency: 1,
            max_retries: None,
            retry_backoff: None,
            dead_letter: None,
            connection: None,
            vhost: None,
            prefetch: None,
            declare: false,
            quorum: false,
        }
    }
}

/// Options of an `every` route.
#[derive(Debug, Clone, Copy)]
pub struct EveryOptions {
    /// Period between runs.
    pub interval: Duration,
    /// Runs in flight at once; a tick finding them all busy is skipped.
    pub max_concurrency: u32,
    /// Run once immediately at startup.
    pub run_on_start: bool,
}

/// Options of an `http` route (served by `worker-http`).
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Upper-case method names.
    pub methods: &'static [&'static str],
    /// Path templates (`/items/{id}`).
    pub paths: &'static [&'static str],
}

/// Options of an `sse` route (consumed by `worker-http`).
#[derive(Debug, Clone, Copy)]
pub struct SseOptions {
    /// The stream's URL.
    pub url: &'static str,
    /// Events per batch.
    pub bulk_size: u16,
    /// Flush deadline of a partial batch.
    pub bulk_flush_interval: Option<Duration>,
    /// Event names to keep (empty: all).
    pub events: &'static [&'static str],
    /// Named connection for headers and credentials.
    pub connection: Option<&'static str>,
}

/// A backend-specific route: options plus the generated adapter.
#[derive(Clone, Copy)]
pub enum RouteKind {
    /// A batch consumer of queues.
    Amqp {
        /// Options.
        options: AmqpOptions,
        /// Adapter.
        handler: BatchHandlerFn,
    },
    /// A recurring task.
    Every {
        /// Options.
        options: EveryOptions,
        /// Adapter.
        handler: AppHandlerFn,
    },
    /// An HTTP route; `make` returns the backend's handler value, which
    /// `worker-http` downcasts.
    Http {
        /// Options.
        options: HttpOptions,
        /// Builds the erased axum method router.
        make: fn() -> Box<dyn std::any::Any + Send>,
    },
    /// An SSE consumer; `make` returns the erased batch adapter.
    Sse {
        /// Options.
        options: SseOptions,
        /// Builds the erased adapter.
        make: fn() -> Box<dyn std::any::Any + Send>,
    },
}

impl RouteKind {
    /// The backend name as written in the attribute.
    pub fn backend(&self) -> &'static str {
        match self {
            RouteKind::Amqp { .. } => "amqp",
            RouteKind::Every { .. } => "every",
            RouteKind::Http { .. } => "http",
            RouteKind::Sse { .. } => "sse",
        }
    }
}

/// One registered route.
#[derive(Clone, Copy)]
pub struct Route {
    /// The handler's name.
    pub name: &'static str,
    /// `module_path!()` of the handler.
    pub module: &'static str,
    /// Where the handler was declared.
    pub location: Location,
    /// Backend, options and adapter.
    pub kind: RouteKind,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("name", &self.name)
            .field("backend", &self.kind.backend())
            .field("location", &self.location)
            .finish()
    }
}

impl Route {
    /// An `amqp` route record built by hand, for the explicit builder API
    /// (`Runtime::builder(..).route(&ROUTE)`) where link-time discovery is
    /// unavailable. `static R: Route = Route::new_amqp("name", module_path!(),
    /// options, adapter);`
    pub const fn new_amqp(
        name: &'static str,
        module: &'static str,
        options: AmqpOptions,
        handler: BatchHandlerFn,
    ) -> Route {
        Route {
            name,
            module,
            location: Location {
                file: "<builder>",
                line: 0,
                column: 0,
            },
            kind: RouteKind::Amqp { options, handler },
        }
    }

    /// `module::name`, unique per handler.
    pub fn path(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }

    /// The amqp options, if this is an amqp route.
    pub fn amqp(&self) -> Option<&AmqpOptions> {
        match &self.kind {
            RouteKind::Amqp { options, .. } => Some(options),
            _ => None,
        }
    }
}

/// When a lifecycle hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// Before any consumer starts.
    Startup,
    /// After consumers have drained.
    Shutdown,
}

/// One registered lifecycle hook.
#[derive(Clone, Copy)]
pub struct Hook {
    /// Startup or shutdown.
    pub kind: HookKind,
    /// Ordering key (then the name).
    pub order: i32,
    /// The hook's function name.
    pub name: &'static str,
    /// `module_path!()`.
    pub module: &'static str,
    /// Where it was declared.
    pub location: Location,
    /// Adapter.
    pub handler: AppHandlerFn,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("order", &self.order)
            .finish()
    }
}

inventory::collect!(Route);
inventory::collect!(Hook);

/// Every route linked into the binary, sorted by `(backend, module, name)`.
pub fn routes() -> Vec<&'static Route> {
    let mut v: Vec<&'static Route> = inventory::iter::<Route>.into_iter().collect();
    v.sort_by(|a, b| {
        (a.kind.backend(), a.module, a.name, a.location.line).cmp(&(
            b.kind.backend(),
            b.module,
            b.name,
            b.location.line,
        ))
    });
    v
}

/// Every hook linked into the binary, sorted by `(order, name)` (filter by kind).
pub fn hooks() -> Vec<&'static Hook> {
    let mut v: Vec<&'static Hook> = inventory::iter::<Hook>.into_iter().collect();
    v.sort_by(|a, b| (a.order, a.name, a.module).cmp(&(b.order, b.name, b.module)));
    v
}
