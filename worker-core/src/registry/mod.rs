//! Link-time route and hook registry.
//!
//! `#[route]`, `#[on_startup]` and `#[on_shutdown]` each emit one
//! `inventory::submit!` of a const record defined here. The runtime collects
//! and sorts them (inventory's order is unspecified); the explicit builder
//! API ([`crate::runtime::Runtime::builder`]) takes the same records, and
//! checks them with the same rules as the macros ([`Route::problems`]).

mod options;

pub(crate) use crate::app::AppHandlerFn;
pub(crate) use crate::batch::BatchHandlerFn;
pub use options::{AmqpOptions, CronOptions, EveryOptions};

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

/// A backend-specific route: options plus the generated adapter.
#[derive(Clone, Copy)]
#[non_exhaustive]
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
    /// A task on a cron schedule.
    Cron {
        /// Options.
        options: CronOptions,
        /// Adapter.
        handler: AppHandlerFn,
    },
    /// A route that a `Service` (the runtime's extension point) of another
    /// crate serves (`worker-framework-http`'s `http` and `sse`): core
    /// knows it through [`ServiceRoute`], and the service downcasts the
    /// record to its own type. A new backend adds a record type and a
    /// service; core does not change.
    Service(&'static dyn ServiceRoute),
}

/// What the runtime needs to know of a route that a service serves: its
/// backend, how to show it, its problems and what it keeps on a broker.
/// The service that serves it downcasts the record to its own type
/// (`<dyn Any>::downcast_ref`, through trait upcasting).
pub trait ServiceRoute: std::any::Any + std::fmt::Debug + Send + Sync {
    /// The backend name as written in the attribute (`http`, `sse`).
    fn backend(&self) -> &'static str;

    /// The source and options columns of the `routes` command; `var`
    /// reads the configuration (a connection's URL may replace the
    /// route's own). URLs are masked.
    fn describe(&self, var: &dyn Fn(&str) -> Option<String>) -> (String, String);

    /// What is wrong with the options, by the rules the macro checks at
    /// compile time (so only records built by hand can have any).
    fn problems(&self) -> Vec<String>;

    /// Whether the route consumes a source in batches (an `sse` stream),
    /// so that it has a consumer's readiness and metrics; a request
    /// handler (`http`) does not.
    fn consumes(&self) -> bool;

    /// The amqp connection the route keeps something on (an `sse` route's
    /// dead letters and resume records), if any.
    fn broker(&self) -> Option<BrokerUse> {
        None
    }
}

/// What a [`ServiceRoute`] keeps on an amqp connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerUse {
    /// The connection's name (`default`, or a `WORKER_AMQP_<NAME>_URL`).
    pub connection: &'static str,
    /// Whether it keeps records there (resume positions), which needs a
    /// broker that has them (a connection with `Coordination`),
    /// rather than only publishing to it.
    pub records: bool,
}

impl BrokerUse {
    /// A use of `connection`, keeping records there or not.
    pub const fn new(connection: &'static str, records: bool) -> Self {
        BrokerUse {
            connection,
            records,
        }
    }
}

impl RouteKind {
    /// The backend name as written in the attribute.
    pub fn backend(&self) -> &'static str {
        match self {
            RouteKind::Amqp { .. } => "amqp",
            RouteKind::Every { .. } => "every",
            RouteKind::Cron { .. } => "cron",
            RouteKind::Service(route) => route.backend(),
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

impl std::fmt::Debug for RouteKind {
    /// The backend and its options; the adapter is a function pointer.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteKind::Amqp { options, .. } => f.debug_tuple("Amqp").field(options).finish(),
            RouteKind::Every { options, .. } => f.debug_tuple("Every").field(options).finish(),
            RouteKind::Cron { options, .. } => f.debug_tuple("Cron").field(options).finish(),
            RouteKind::Service(route) => f.debug_tuple("Service").field(route).finish(),
        }
    }
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
    /// options, adapter);` records where it is written, and the runtime
    /// checks its options with the macro's rules ([`Route::problems`]).
    #[track_caller]
    pub const fn new_amqp(
        name: &'static str,
        module: &'static str,
        options: AmqpOptions,
        handler: BatchHandlerFn,
    ) -> Route {
        Route::written_here(name, module, RouteKind::Amqp { options, handler })
    }

    /// The route of a service's backend, built by hand (or by a backend's
    /// own macro): `static R: Route = Route::new_service("name",
    /// module_path!(), &RECORD);` records where it is written. The record
    /// is the service's own type; the service downcasts it back.
    #[track_caller]
    pub const fn new_service(
        name: &'static str,
        module: &'static str,
        record: &'static dyn ServiceRoute,
    ) -> Route {
        Route::written_here(name, module, RouteKind::Service(record))
    }

    /// A record of `kind`, located where the calling constructor was
    /// called (`#[track_caller]` passes the location through).
    #[track_caller]
    const fn written_here(name: &'static str, module: &'static str, kind: RouteKind) -> Route {
        let caller = std::panic::Location::caller();
        Route {
            name,
            module,
            location: Location {
                file: caller.file(),
                line: caller.line(),
                column: caller.column(),
            },
            kind,
        }
    }

    /// What is wrong with the route's options, by the rules the macros
    /// check at compile time (so only records built by hand can have any).
    pub fn problems(&self) -> Vec<String> {
        match &self.kind {
            RouteKind::Amqp { options, .. } => options.problems(),
            RouteKind::Every { options, .. } => options.problems(),
            RouteKind::Cron { options, .. } => options.problems(),
            RouteKind::Service(route) => route.problems(),
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

/// A queue the application publishes to and no route of its own consumes
/// (another service's input), declared at startup before any hook runs:
/// what `worker::declare_queue!("name", ..)` registers. `check`,
/// `topology` and `check --drift` see it as they see a route's queues.
#[derive(Debug, Clone, Copy)]
pub struct QueueDeclaration {
    /// The queue's name.
    pub queue: &'static str,
    /// Named connection (`WORKER_AMQP_<NAME>_URL`); `None` is the default one.
    pub connection: Option<&'static str>,
    /// Declared as a quorum queue.
    pub quorum: bool,
    /// The quorum queue's `x-delivery-limit`.
    pub delivery_limit: Option<crate::broker::DeliveryLimit>,
    /// `module_path!()` where it is declared.
    pub module: &'static str,
    /// Where it is declared.
    pub location: Location,
}

impl QueueDeclaration {
    /// How the queue is declared: durable, with its type and limit.
    pub fn queue_options(&self) -> crate::broker::QueueOptions {
        crate::broker::QueueOptions {
            quorum: self.quorum,
            delivery_limit: self.delivery_limit,
            ..crate::broker::QueueOptions::durable()
        }
    }

    /// The connection it is declared on, `default` when unset.
    pub fn connection_name(&self) -> &'static str {
        self.connection.unwrap_or("default")
    }

    /// What is wrong with it, by the rules the macro checks (so only
    /// records built by hand can have any).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(worker_rules::names::queue_name(self.queue).err());
        if let Some(c) = self.connection {
            out.extend(worker_rules::names::connection_name(c).err());
        }
        if let Some(limit) = self.delivery_limit {
            if let Some(n) = limit.limit() {
                out.extend(worker_rules::bounds::DELIVERY_LIMIT.check(n.into()).err());
            }
            // A declaration always declares.
            out.extend(worker_rules::route::delivery_limit_needs_quorum(self.quorum, true).err());
        }
        out
    }
}

inventory::collect!(Route);
inventory::collect!(Hook);
inventory::collect!(QueueDeclaration);

/// Every `declare_queue!` linked into the binary, sorted by queue name.
pub fn declarations() -> Vec<&'static QueueDeclaration> {
    let mut v: Vec<&'static QueueDeclaration> =
        inventory::iter::<QueueDeclaration>.into_iter().collect();
    v.sort_by_key(|d| (d.queue, d.connection_name(), d.location.line));
    v
}

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
