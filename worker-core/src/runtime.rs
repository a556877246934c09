//! The application lifecycle: validate, connect, run startup hooks, start
//! every backend, wait for a signal, shut down gracefully (DESIGN.md section 5).

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{mask_url, Config};
use crate::connection::{Connection, Connector, ConsumerSpec, MemoryConnector};
use crate::consumer::ConsumerSettings;
use crate::error::Error;
use crate::every::run_every;
use crate::registry::{self, BoxFuture, Hook, HookKind, Route, RouteKind};
use crate::stats::StatsRegistry;
use crate::validate::{connection_key, effective_prefetch, validate};

/// What a backend service (the HTTP server, SSE consumers) gets at startup.
pub struct ServiceContext {
    /// The application.
    pub app: App,
    /// The configuration.
    pub config: Arc<Config>,
    /// Every route of the application.
    pub routes: Vec<&'static Route>,
    /// Counters of every route.
    pub stats: Arc<StatsRegistry>,
    /// Connections by name, for readiness.
    pub connections: Vec<(String, Arc<dyn Connection>)>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

/// A backend that runs beside the consumers (e.g. the HTTP server).
pub trait Service: Send + Sync + 'static {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Starts the service; the future runs until `ctx.shutdown` and then
    /// stops gracefully. `None` when the service has nothing to do.
    fn start(&self, ctx: ServiceContext) -> Result<Option<BoxFuture<'static, ()>>, Error>;
}

/// Builds a [`Runtime`].
pub struct RuntimeBuilder {
    config: Config,
    routes: Option<Vec<&'static Route>>,
    hooks: Option<Vec<&'static Hook>>,
    connectors: Vec<Arc<dyn Connector>>,
    services: Vec<Arc<dyn Service>>,
    app: App,
    handle_signals: bool,
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

    /// Adds a connector for more URL schemes.
    pub fn connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.connectors.push(connector);
        self
    }

    /// Adds a service.
    pub fn service(mut self, service: Arc<dyn Service>) -> Self {
        self.services.push(service);
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
        let routes = self.routes.unwrap_or_else(registry::routes);
        let hooks = self.hooks.unwrap_or_else(registry::hooks);
        Runtime {
            config: Arc::new(self.config),
            routes,
            hooks,
            connectors: self.connectors,
            services: self.services,
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
    connectors: Vec<Arc<dyn Connector>>,
    services: Vec<Arc<dyn Service>>,
    app: App,
    handle_signals: bool,
    stats: Arc<StatsRegistry>,
}

impl Runtime {
    /// A builder over `config`, with the embedded broker's connector.
    pub fn builder(config: Config) -> RuntimeBuilder {
        RuntimeBuilder {
            config,
            routes: None,
            hooks: None,
            connectors: vec![Arc::new(MemoryConnector)],
            services: Vec::new(),
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

    /// Counters of every route.
    pub fn stats(&self) -> &Arc<StatsRegistry> {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Validates the route set: warnings on success, every error otherwise.
    pub fn validate(&self) -> Result<Vec<String>, Error> {
        validate(&self.routes, &self.config).map_err(|errs| Error::msg(errs.join("\n")))
    }

    /// Creates the connections used by the routes (plus the default one, for
    /// publishing), keyed by `name` or `name/vhost`. Connections are lazy:
    /// nothing is dialled here.
    pub fn connect(&self) -> Result<BTreeMap<String, Arc<dyn Connection>>, Error> {
        let mut keys: Vec<(String, Option<&str>)> = vec![("default".to_owned(), None)];
        keys.extend(self.routes.iter().filter_map(|r| connection_key(r)));
        keys.extend(
            self.config
                .named_urls
                .keys()
                .map(|name| (name.clone(), None)),
        );
        let mut out = BTreeMap::new();
        for (name, vhost) in keys {
            let key = connection_map_key(&name, vhost);
            if out.contains_key(&key) {
                continue;
            }
            let Some(url) = self.config.connection_url(Some(&name)) else {
                continue;
            };
            let url = match vhost {
                Some(v) => with_vhost(url, v),
                None => url.to_owned(),
            };
            let scheme = url.split("://").next().unwrap_or_default();
            let connector = self
                .connectors
                .iter()
                .find(|c| c.schemes().contains(&scheme))
                .ok_or_else(|| {
                    Error::msg(format!(
                        "no backend for `{}` (connection `{name}`): `amqp://` and `amqps://` need the `amqp` feature of worker; `memory://` is the embedded broker",
                        mask_url(&url)
                    ))
                })?;
            out.insert(key, connector.connect(&name, &url)?);
        }
        Ok(out)
    }

    /// Runs until SIGINT/SIGTERM (or [`App::shutdown`]), then shuts down
    /// gracefully. Errors: invalid routes, a failing startup hook.
    pub async fn run(self) -> Result<(), Error> {
        for w in self.validate()? {
            tracing::warn!("{w}");
        }
        let connections = self.connect()?;
        for (key, conn) in &connections {
            if !key.contains('/') {
                self.app.set_publisher(key, conn.publisher());
            }
        }
        self.app.insert(self.stats.clone());

        for hook in self.hooks.iter().filter(|h| h.kind == HookKind::Startup) {
            tracing::debug!(hook = hook.name, "running startup hook");
            run_hook(hook, &self.app).await.map_err(|e| {
                Error::msg(format!(
                    "startup hook `{}` ({}) failed: {e}",
                    hook.name, hook.location
                ))
            })?;
        }

        let shutdown = self.app.shutdown_token();
        let mut tasks: Vec<(String, JoinHandle<()>)> = Vec::new();
        for route in &self.routes {
            let stats = self.stats.route(route.name, route.kind.backend());
            match route.kind {
                RouteKind::Amqp { options, handler } => {
                    let (name, vhost) = connection_key(route).expect("amqp route");
                    let conn = connections
                        .get(&connection_map_key(&name, vhost))
                        .expect("validated connection");
                    let prefetch = effective_prefetch(route, &self.config);
                    stats
                        .prefetch
                        .store(u64::from(prefetch), std::sync::atomic::Ordering::Relaxed);
                    let settings = ConsumerSettings {
                        bulk_size: options.bulk_size.min(prefetch).max(1) as usize,
                        flush_interval: options
                            .bulk_flush_interval
                            .unwrap_or(self.config.flush_timeout),
                        prefetch,
                        max_concurrency: options.max_concurrency.max(1) as usize,
                        shutdown_timeout: self.config.shutdown_timeout,
                        reconnect_base: RECONNECT_BASE,
                        reconnect_cap: RECONNECT_CAP,
                    };
                    tracing::info!(
                        route = route.name,
                        queues = ?options.queues,
                        broker = %conn.describe(),
                        bulk_size = settings.bulk_size,
                        prefetch,
                        "starting consumer"
                    );
                    let handle = conn.spawn_consumer(ConsumerSpec {
                        name: route.name,
                        options,
                        handler,
                        settings,
                        app: self.app.clone(),
                        stats,
                        shutdown: shutdown.clone(),
                    });
                    tasks.push((route.name.to_owned(), handle));
                }
                RouteKind::Every { options, handler } => {
                    tracing::info!(route = route.name, interval = ?options.interval, "starting recurring task");
                    let handle = tokio::spawn(run_every(
                        route.name,
                        options,
                        handler,
                        self.app.clone(),
                        stats,
                        shutdown.clone(),
                    ));
                    tasks.push((route.name.to_owned(), handle));
                }
                RouteKind::Http { .. } | RouteKind::Sse { .. } => {}
            }
        }
        for service in &self.services {
            let ctx = ServiceContext {
                app: self.app.clone(),
                config: self.config.clone(),
                routes: self.routes.clone(),
                stats: self.stats.clone(),
                connections: connections
                    .iter()
                    .map(|(k, c)| (k.clone(), c.clone()))
                    .collect(),
                shutdown: shutdown.clone(),
            };
            if let Some(fut) = service.start(ctx)? {
                tasks.push((service.name().to_owned(), tokio::spawn(fut)));
            }
        }

        if self.handle_signals {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = wait_for_signal() => {
                    tracing::info!("signal received; shutting down (send it again to force exit)");
                    shutdown.cancel();
                    tokio::spawn(async {
                        wait_for_signal().await;
                        tracing::warn!("second signal: forcing exit");
                        std::process::exit(130);
                    });
                }
            }
        } else {
            shutdown.cancelled().await;
        }

        // Consumers hand over their partial batches and wait for in-flight
        // work up to the shutdown timeout themselves; the margin covers
        // settlement and channel closing.
        let limit = self.config.shutdown_timeout + Duration::from_secs(5);
        let deadline = tokio::time::Instant::now() + limit;
        for (name, mut handle) in tasks {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(route = %name, error = %e, "task ended abnormally"),
                Err(_) => {
                    tracing::warn!(route = %name, "still running after the shutdown timeout; aborted");
                    handle.abort();
                }
            }
        }

        for hook in self.hooks.iter().filter(|h| h.kind == HookKind::Shutdown) {
            if let Err(e) = run_hook(hook, &self.app).await {
                tracing::error!(hook = hook.name, location = %hook.location, error = %e, "shutdown hook failed");
            }
        }
        for conn in connections.values() {
            conn.close().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// First delay before reconnecting a consumer (or retrying a missing queue).
const RECONNECT_BASE: Duration = Duration::from_millis(100);
/// Longest delay between reconnect attempts: after an outage of any length,
/// consumers are back within this long of the broker (2.5 to 5 s with
/// jitter), and a fleet of workers still spreads its attempts out.
const RECONNECT_CAP: Duration = Duration::from_secs(5);

fn connection_map_key(name: &str, vhost: Option<&str>) -> String {
    match vhost {
        Some(v) => format!("{name}/{v}"),
        None => name.to_owned(),
    }
}

/// Replaces the vhost (path) of an AMQP URL, percent-encoding `/`.
pub fn with_vhost(url: &str, vhost: &str) -> String {
    let encoded = vhost.replace('%', "%25").replace('/', "%2f");
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let (authority, query) = match rest.find('/') {
        Some(slash) => {
            let path = &rest[slash..];
            let query = path.find('?').map(|q| &path[q..]).unwrap_or("");
            (&rest[..slash], query)
        }
        None => match rest.find('?') {
            Some(q) => (&rest[..q], &rest[q..]),
            None => (rest, ""),
        },
    };
    format!("{}{authority}/{encoded}{query}", &url[..scheme_end + 3])
}

async fn run_hook(hook: &Hook, app: &App) -> Result<(), Error> {
    match AssertUnwindSafe((hook.handler)(app.clone()))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(p) => Err(Error::msg(format!(
            "panicked: {}",
            crate::task::panic_message(&*p)
        ))),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vhost_replaces_the_path() {
        assert_eq!(
            with_vhost("amqp://u:p@h:5672/%2f", "other"),
            "amqp://u:p@h:5672/other"
        );
        assert_eq!(with_vhost("amqp://h", "a/b"), "amqp://h/a%2fb");
        assert_eq!(
            with_vhost("amqp://h/x?heartbeat=10", "v"),
            "amqp://h/v?heartbeat=10"
        );
    }
}
