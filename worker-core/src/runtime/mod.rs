//! The application lifecycle: validate, connect, run startup hooks, start
//! the routes and the services, wait for a signal, stop: consumers drain,
//! shutdown hooks run, connections close (`docs/semantics.md`).

mod connection;
mod coordination;
mod embedded;
mod hooks;
mod service;
mod signals;
mod start;
#[cfg(any(test, feature = "conformance"))]
pub(crate) use coordination::record_options as record_queue_options;
mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::config::{Config, Variable, VARIABLES};
use crate::error::Error;
use crate::metrics::StatsRegistry;
use crate::registry::{self, Hook, QueueDeclaration, Route, RouteKind};
use crate::rules::url::{mask_url, with_vhost};

pub use connection::{BrokerConnection, Connection, ConnectionKey, Connector, Coordination};
pub use embedded::MemoryConnector;
pub use service::{Probe, Service, ServiceContext};
pub(crate) use validate::NO_ROUTES;

/// The connections of a runtime, by key.
pub(crate) type Connections = BTreeMap<ConnectionKey, Arc<dyn Connection>>;

/// The backends compiled into a program: connectors for URL schemes
/// (`memory://` always) and services (the HTTP server, SSE consumers).
#[derive(Clone)]
pub struct Backends {
    connectors: Vec<Arc<dyn Connector>>,
    services: Vec<Arc<dyn Service>>,
}

impl std::fmt::Debug for Backends {
    /// The URL schemes and the number of services.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let schemes: Vec<&str> = self
            .connectors
            .iter()
            .flat_map(|c| c.schemes().iter().copied())
            .collect();
        f.debug_struct("Backends")
            .field("schemes", &schemes)
            .field("services", &self.services.len())
            .finish()
    }
}

impl Default for Backends {
    fn default() -> Self {
        Self::new()
    }
}

impl Backends {
    /// The embedded broker's connector, and no service.
    pub fn new() -> Self {
        Backends {
            connectors: vec![Arc::new(MemoryConnector)],
            services: Vec::new(),
        }
    }

    /// Adds a connector for more URL schemes. For a scheme that an earlier
    /// connector also handles (`memory`, say), the one added last is used.
    pub fn connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.connectors.push(connector);
        self
    }

    /// Adds a service.
    pub fn service(mut self, service: Arc<dyn Service>) -> Self {
        self.services.push(service);
        self
    }

    /// The services.
    pub fn services(&self) -> &[Arc<dyn Service>] {
        &self.services
    }

    /// Every configuration variable: the runtime's, then each service's.
    pub fn variables(&self) -> Vec<Variable> {
        let mut out = VARIABLES.to_vec();
        if crate::otel::BUILT {
            out.extend_from_slice(crate::otel::VARIABLES);
        }
        for s in &self.services {
            out.extend_from_slice(s.variables());
        }
        out
    }
}

/// Builds a [`Runtime`].
pub struct RuntimeBuilder {
    config: Config,
    routes: Option<Vec<&'static Route>>,
    hooks: Option<Vec<&'static Hook>>,
    declarations: Option<Vec<&'static QueueDeclaration>>,
    backends: Backends,
    app: App,
    handle_signals: bool,
}

impl std::fmt::Debug for RuntimeBuilder {
    /// The configuration (credentials masked) and the backends.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("config", &self.config)
            .field("backends", &self.backends)
            .finish_non_exhaustive()
    }
}

impl RuntimeBuilder {
    /// Uses explicit routes instead of every linked one.
    pub fn routes(mut self, routes: Vec<&'static Route>) -> Self {
        self.routes = Some(routes);
        self
    }

    /// Adds one explicit route (the builder API for when link-time discovery
    /// is unavailable).
    pub fn route(mut self, route: &'static Route) -> Self {
        self.routes.get_or_insert_with(Vec::new).push(route);
        self
    }

    /// Uses explicit hooks instead of every linked one.
    pub fn hooks(mut self, hooks: Vec<&'static Hook>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Uses explicit queue declarations instead of every linked
    /// `declare_queue!`.
    pub fn declarations(mut self, declarations: Vec<&'static QueueDeclaration>) -> Self {
        self.declarations = Some(declarations);
        self
    }

    /// Uses these backends (replacing the embedded broker's connector alone).
    pub fn backends(mut self, backends: Backends) -> Self {
        self.backends = backends;
        self
    }

    /// Adds a connector for more URL schemes.
    pub fn connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.backends = self.backends.connector(connector);
        self
    }

    /// Adds a service.
    pub fn service(mut self, service: Arc<dyn Service>) -> Self {
        self.backends = self.backends.service(service);
        self
    }

    /// Uses this application handle (to share state with a test).
    pub fn app(mut self, app: App) -> Self {
        self.app = app;
        self
    }

    /// Whether SIGINT/SIGTERM start the shutdown (default true).
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.handle_signals = yes;
        self
    }

    /// Finishes the builder.
    pub fn build(self) -> Runtime {
        Runtime {
            config: Arc::new(self.config),
            routes: self.routes.unwrap_or_else(registry::routes),
            hooks: self.hooks.unwrap_or_else(registry::hooks),
            declarations: self.declarations.unwrap_or_else(registry::declarations),
            backends: self.backends,
            app: self.app,
            handle_signals: self.handle_signals,
            stats: Arc::new(StatsRegistry::default()),
        }
    }
}

/// A configured application, ready to run.
pub struct Runtime {
    config: Arc<Config>,
    routes: Vec<&'static Route>,
    hooks: Vec<&'static Hook>,
    declarations: Vec<&'static QueueDeclaration>,
    backends: Backends,
    app: App,
    handle_signals: bool,
    stats: Arc<StatsRegistry>,
}

impl std::fmt::Debug for Runtime {
    /// The configuration (credentials masked), the routes and the backends.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<&str> = self.routes.iter().map(|r| r.name).collect();
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("routes", &routes)
            .field("backends", &self.backends)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A builder over `config`, with the embedded broker's connector.
    pub fn builder(config: Config) -> RuntimeBuilder {
        RuntimeBuilder {
            config,
            routes: None,
            hooks: None,
            declarations: None,
            backends: Backends::new(),
            app: App::new(),
            handle_signals: true,
        }
    }

    /// The application handle.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The routes this runtime serves.
    pub fn routes(&self) -> &[&'static Route] {
        &self.routes
    }

    /// The queues it declares at startup (`declare_queue!`).
    pub fn declarations(&self) -> &[&'static QueueDeclaration] {
        &self.declarations
    }

    /// Counters of every route.
    pub fn stats(&self) -> &Arc<StatsRegistry> {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The backends.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// Validates the services' configuration and the route set: warnings
    /// on success, every error otherwise.
    pub fn validate(&self) -> Result<Vec<String>, Error> {
        let mut errors = validate::unserved(&self.routes, |backend| {
            self.backends
                .services
                .iter()
                .any(|s| s.serves().contains(&backend))
        });
        for service in &self.backends.services {
            if let Err(e) = service.check_config(&self.config) {
                errors.push(e.to_string());
            } else if let Err(e) = service.check_routes(&self.config, &self.routes) {
                errors.push(e.to_string());
            }
        }
        match validate::validate_with(&self.routes, &self.declarations, &self.config) {
            Ok(warnings) if errors.is_empty() => Ok(warnings),
            Ok(_) => Err(Error::msg(errors.join("\n"))),
            Err(route_errors) => {
                errors.extend(route_errors);
                Err(Error::msg(errors.join("\n")))
            }
        }
    }

    /// Creates the connections used by the routes (plus the default one and
    /// every named one, for publishing). Connections are lazy: nothing is
    /// dialled here.
    pub fn connect(&self) -> Result<Connections, Error> {
        let mut keys = vec![ConnectionKey::default_connection()];
        keys.extend(self.routes.iter().filter_map(|r| ConnectionKey::of(r)));
        keys.extend(
            self.declarations
                .iter()
                .map(|d| ConnectionKey::named(d.connection_name())),
        );
        keys.extend(
            self.config
                .named_urls
                .keys()
                .map(|n| ConnectionKey::named(n)),
        );
        let mut out = Connections::new();
        for key in keys {
            if out.contains_key(&key) {
                continue;
            }
            let Some(url) = self.config.connection_url(Some(&key.name)) else {
                continue;
            };
            let url = match key.vhost {
                Some(v) => with_vhost(url, v),
                None => url.to_owned(),
            };
            let conn = self.connector_for(&key, &url)?.connect_configured(
                &key.name,
                &url,
                &self.config,
            )?;
            out.insert(key, conn);
        }
        Ok(out)
    }

    fn connector_for(&self, key: &ConnectionKey, url: &str) -> Result<&Arc<dyn Connector>, Error> {
        let scheme = url.split("://").next().unwrap_or_default();
        self.backends
            .connectors
            .iter()
            .rev()
            .find(|c| c.schemes().contains(&scheme))
            .ok_or_else(|| {
                Error::msg(format!(
                    "no backend for `{}` (connection `{key}`): `amqp://` and `amqps://` need the `amqp` feature of worker; `memory://` is the embedded broker",
                    mask_url(url)
                ))
            })
    }

    /// Runs until SIGINT/SIGTERM (or [`App::shutdown`]), then shuts down
    /// gracefully. Errors: invalid configuration or routes, a failing
    /// startup hook or queue declaration, a service that cannot start.
    ///
    /// The services (the HTTP server's health endpoints among them) start
    /// first, so that the process answers, not ready, while startup
    /// declares its queues and runs its hooks; those wait for a broker
    /// that does not answer yet up to `WORKER_STARTUP_TIMEOUT`.
    pub async fn run(self) -> Result<(), Error> {
        let connections = self.prepare()?;
        self.app.begin_startup(self.config.startup_timeout);
        let mut tasks = match self.start_services(&connections) {
            Ok(tasks) => tasks,
            Err(e) => return Err(self.abandon(Vec::new(), &connections, e).await),
        };
        if let Err(e) = self.start_up().await {
            return Err(self.abandon(tasks, &connections, e).await);
        }
        let shutdown = self.app.shutdown_token();
        let start = start::Start {
            config: &self.config,
            connections: &connections,
            stats: &self.stats,
            app: &self.app,
            shutdown: &shutdown,
        };
        tasks.extend(start::routes(&self.routes, &start));
        self.app.finish_startup();
        signals::until_shutdown(self.handle_signals, &shutdown).await;
        // Consumers hand over their partial batches and wait for in-flight
        // work up to the shutdown timeout themselves; the margin covers
        // settlement and channel closing.
        start::stop(tasks, self.config.shutdown_timeout + Duration::from_secs(5)).await;
        hooks::shutdown(&self.hooks, &self.app).await;
        for conn in connections.values() {
            conn.close().await;
        }
        tracing::info!("stopped");
        Ok(())
    }

    /// The queues of `declare_queue!`, then the startup hooks.
    async fn start_up(&self) -> Result<(), Error> {
        for d in &self.declarations {
            // The connection's publisher waits for its broker meanwhile.
            self.app
                .publisher_for(d.connection_name())?
                .declare_queue_with(d.queue, &d.queue_options())
                .await
                .map_err(|e| {
                    Error::msg(format!(
                        "cannot declare queue `{}` ({}, connection `{}`): {e}",
                        d.queue,
                        d.location,
                        d.connection_name()
                    ))
                })?;
        }
        hooks::startup(&self.hooks, &self.app).await
    }

    /// Startup failed: the services stop, the connections close, and the
    /// error is returned.
    async fn abandon(&self, tasks: Vec<start::Task>, connections: &Connections, e: Error) -> Error {
        self.app.abandon_startup();
        self.app.shutdown();
        start::stop(tasks, Duration::from_secs(5)).await;
        for conn in connections.values() {
            conn.close().await;
        }
        e
    }

    /// Validation, connections, and what handlers reach through the app:
    /// the publishers of the plain connections and the route counters.
    fn prepare(&self) -> Result<Connections, Error> {
        for w in self.validate()? {
            tracing::warn!("{w}");
        }
        let connections = self.connect()?;
        self.check_coordination(&connections)?;
        for (key, conn) in &connections {
            if key.is_plain() {
                self.app.set_publisher(&key.name, conn.publisher());
            }
        }
        self.app.insert(self.stats.clone());
        Ok(connections)
    }

    /// Refuses the routes that coordinate through a connection whose
    /// broker cannot ([`Connection::coordination`]).
    fn check_coordination(&self, connections: &Connections) -> Result<(), Error> {
        for route in &self.routes {
            let needs = match route.kind {
                RouteKind::Cron { options, .. } => options.singleton || options.catch_up,
                RouteKind::Service(service) => service.broker().is_some_and(|b| b.records),
                _ => false,
            };
            let Some(key) = ConnectionKey::of(route).filter(|_| needs) else {
                continue;
            };
            if connections
                .get(&key)
                .is_some_and(|c| c.coordination().is_none())
            {
                return Err(Error::msg(format!(
                    "route `{}` ({}) needs a lock or a record on its broker (`singleton`, `catch_up` or `resume`), and connection `{key}` ({}) cannot hold them",
                    route.name,
                    route.location,
                    connections[&key].describe()
                )));
            }
        }
        Ok(())
    }

    fn start_services(&self, connections: &Connections) -> Result<Vec<start::Task>, Error> {
        let mut tasks = Vec::new();
        for service in &self.backends.services {
            let ctx = ServiceContext {
                app: self.app.clone(),
                config: self.config.clone(),
                routes: self.routes.clone(),
                stats: self.stats.clone(),
                connections: connections
                    .iter()
                    .map(|(k, c)| (k.clone(), c.clone()))
                    .collect(),
                shutdown: self.app.shutdown_token(),
            };
            if let Some(fut) = service.start(ctx)? {
                tasks.push((service.name().to_owned(), tokio::spawn(fut)));
            }
        }
        Ok(tasks)
    }
}
