//! [`Service`]: a backend that runs beside the consumers (the HTTP server,
//! SSE consumers), and what it gets at startup ([`ServiceContext`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::connection::{Connection, ConnectionKey};
use crate::app::App;
use crate::config::{Config, ConfigError, Variable};
use crate::error::Error;
use crate::future::BoxFuture;
use crate::metrics::StatsRegistry;
use crate::registry::Route;

/// What a backend service (the HTTP server, SSE consumers) gets at startup.
pub struct ServiceContext {
    /// The application.
    pub app: App,
    /// The configuration (the service reads its own variables from it).
    pub config: Arc<Config>,
    /// Every route of the application.
    pub routes: Vec<&'static Route>,
    /// Counters of every route.
    pub stats: Arc<StatsRegistry>,
    /// Connections by key, for readiness.
    pub connections: Vec<(ConnectionKey, Arc<dyn Connection>)>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for ServiceContext {
    /// The configuration (credentials masked), the routes and the connections.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<&str> = self.routes.iter().map(|r| r.name).collect();
        let connections: Vec<&ConnectionKey> = self.connections.iter().map(|(k, _)| k).collect();
        f.debug_struct("ServiceContext")
            .field("config", &self.config)
            .field("routes", &routes)
            .field("connections", &connections)
            .finish_non_exhaustive()
    }
}

impl ServiceContext {
    /// The connections some `amqp` route consumes from.
    pub fn used_connections(&self) -> Vec<(ConnectionKey, Arc<dyn Connection>)> {
        let used: BTreeSet<ConnectionKey> = self
            .routes
            .iter()
            .filter_map(|r| ConnectionKey::of(r))
            .collect();
        self.connections
            .iter()
            .filter(|(k, _)| used.contains(k))
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect()
    }
}

/// A backend that runs beside the consumers (e.g. the HTTP server).
pub trait Service: Send + Sync + 'static {
    /// Name for logs.
    fn name(&self) -> &'static str;

    /// The backends of the routes the service serves (`http`, `sse`: the
    /// [`ServiceRoute::backend`](crate::registry::ServiceRoute::backend)
    /// of their records). A route that no service of the runtime serves is
    /// refused by validation rather than never run.
    fn serves(&self) -> &'static [&'static str] {
        &[]
    }

    /// The configuration variables the service reads, for `--help`.
    fn variables(&self) -> &'static [Variable] {
        &[]
    }

    /// Checks the service's configuration, at startup and in `check`: an
    /// invalid value is an error naming its variable.
    fn check_config(&self, config: &Config) -> Result<(), ConfigError> {
        let _ = config;
        Ok(())
    }

    /// Checks the routes the service would serve, at startup and in
    /// `check`, as far as it can without starting (the HTTP server builds
    /// its router): what would fail at start is an error naming the route.
    fn check_routes(&self, config: &Config, routes: &[&'static Route]) -> Result<(), Error> {
        let _ = (config, routes);
        Ok(())
    }

    /// Probes what the service's routes connect to, for `check`: one
    /// finding per route (an `sse` route's stream answers, or why not).
    fn probe<'a>(
        &'a self,
        config: &'a Config,
        routes: &'a [&'static Route],
    ) -> BoxFuture<'a, Vec<Probe>> {
        let _ = (config, routes);
        Box::pin(async { Vec::new() })
    }

    /// Starts the service; the future runs until `ctx.shutdown` and then
    /// stops gracefully. `None` when the service has nothing to do.
    fn start(&self, ctx: ServiceContext) -> Result<Option<BoxFuture<'static, ()>>, Error>;
}

/// What [`Service::probe`] found for one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Whether it works.
    pub ok: bool,
    /// What was found, without the `ok:` / `error:` prefix.
    pub line: String,
}
