//! The HTTP server as a runtime service.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use worker_core::backend::config::{Config, ConfigError, Variable};
use worker_core::backend::future::BoxFuture;
use worker_core::backend::registry::Route;
use worker_core::backend::runtime::{Service, ServiceContext};
use worker_core::Error;

use crate::config::{HttpConfig, HTTP_ADDR, HTTP_VARIABLES};
use crate::health::Readiness;
use crate::limits::{effective_max_connections, HttpLimits, MAX_CONNECTIONS, OPS_ADDR};
use crate::metrics::{HttpMetrics, Scraper};
use crate::router::{self, Endpoints, Layers, LIVE_PATH, READY_PATH};
use crate::server::{self, Settings};

/// Serves the http routes, `/metrics` and `/health/*` on `WORKER_HTTP_ADDR`.
///
/// Starts when the address is set (the default, `127.0.0.1:8080`), so health
/// and metrics are available to every worker; `WORKER_HTTP_ADDR=off` disables
/// it (http routes are then not served, with a warning). Stops on shutdown,
/// finishing in-flight requests; clients that have not sent a whole request
/// head are not waited for, and `WORKER_HTTP_HEADER_TIMEOUT` closes them
/// (and idle keep-alive connections) while running. With `WORKER_OPS_ADDR`
/// set, `/metrics` and `/health/*` are served on that address instead, by
/// a listener of their own. The limits of [`crate::limits`] apply to each
/// listener.
#[derive(Debug, Default)]
pub struct HttpService {
    local_addr: Arc<OnceLock<SocketAddr>>,
    ops_addr: Arc<OnceLock<SocketAddr>>,
    layers: Option<Layers>,
}

impl HttpService {
    /// A service that has not started yet.
    pub fn new() -> Self {
        crate::tls_provider::install();
        Self::default()
    }

    /// The service with `layers` applied to the HTTP routes (auth, CORS,
    /// tracing: any tower layer, with `Router::layer`). The health and
    /// metrics endpoints and the JSON 404 are outside them, and so are the
    /// limits of [`crate::limits`], which come first.
    pub fn with_layers(mut self, layers: Layers) -> Self {
        self.layers = Some(layers);
        self
    }

    /// The address the server listens on, once started (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr.get().copied()
    }

    /// The address of the operations endpoints, once started, when
    /// `WORKER_OPS_ADDR` is set.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops_addr.get().copied()
    }
}

impl Service for HttpService {
    fn name(&self) -> &'static str {
        "http"
    }

    fn serves(&self) -> &'static [&'static str] {
        &["http"]
    }

    fn variables(&self) -> &'static [Variable] {
        HTTP_VARIABLES
    }

    fn check_config(&self, config: &Config) -> Result<(), ConfigError> {
        HttpConfig::from_config(config).map(|_| ())
    }

    fn check_routes(&self, config: &Config, routes: &[&'static Route]) -> Result<(), Error> {
        // Runs after `check_config` succeeded.
        let config = HttpConfig::from_config(config)?;
        router::check(routes, &config.metrics_path)
    }

    fn start(&self, ctx: ServiceContext) -> Result<Option<BoxFuture<'static, ()>>, Error> {
        let config = HttpConfig::from_config(&ctx.config)?;
        let http_routes: Vec<&str> = ctx
            .routes
            .iter()
            .filter(|r| crate::route::http_route(r).is_some())
            .map(|r| r.name)
            .collect();
        let Some(addr) = config.addr else {
            if !http_routes.is_empty() {
                tracing::warn!(
                    routes = ?http_routes,
                    "WORKER_HTTP_ADDR is `off`: http routes are not served"
                );
            }
            return Ok(None);
        };

        let http = Arc::new(HttpMetrics::default());
        let endpoints = Endpoints {
            metrics_path: config.metrics_path.clone(),
            scraper: Arc::new(Scraper::new(&ctx, http.clone())),
            readiness: Arc::new(Readiness::new(&ctx)),
            http,
        };
        let with_ops = config.ops_addr.is_none();
        let router = router::build(
            &ctx.routes,
            ctx.app.clone(),
            &endpoints,
            with_ops,
            self.layers,
        )?;
        let listener = bind(addr, HTTP_ADDR.name)?;
        let bound = listener.local_addr().unwrap_or(addr);
        let _ = self.local_addr.set(bound);
        tracing::info!(
            addr = %bound,
            routes = http_routes.len(),
            metrics = %config.metrics_path,
            "http server listening"
        );
        let limits = listener_limits(&config);
        let settings = |exempt: Vec<String>| Settings {
            header_timeout: config.header_timeout,
            limits,
            exempt,
            refusals: endpoints.http.refusals(),
        };
        let ops_paths = vec![
            config.metrics_path.clone(),
            LIVE_PATH.to_owned(),
            READY_PATH.to_owned(),
        ];
        let ops = match config.ops_addr {
            Some(ops_addr) => {
                let ops_listener = bind(ops_addr, OPS_ADDR.name)?;
                let ops_bound = ops_listener.local_addr().unwrap_or(ops_addr);
                let _ = self.ops_addr.set(ops_bound);
                tracing::info!(addr = %ops_bound, metrics = %config.metrics_path, "http operations endpoints listening");
                let ops_router = router::build_ops(ctx.app.clone(), &endpoints);
                Some((ops_listener, ops_router, settings(ops_paths.clone())))
            }
            None => None,
        };
        let main_settings = settings(if with_ops { ops_paths } else { Vec::new() });
        let shutdown = ctx.shutdown.clone();
        Ok(Some(Box::pin(async move {
            let main = server::serve(listener, router, main_settings, shutdown.clone());
            match ops {
                Some((l, r, s)) => {
                    tokio::join!(main, server::serve(l, r, s, shutdown));
                }
                None => main.await,
            }
            tracing::debug!("http server stopped");
        })))
    }
}

/// The limits of each listener: the configured ones, with the connection
/// cap kept within the open-files limit (logged when lowered).
fn listener_limits(config: &HttpConfig) -> HttpLimits {
    let listeners = if config.ops_addr.is_some() { 2 } else { 1 };
    let mut limits = config.limits;
    let (cap, lowered) = effective_max_connections(limits.max_connections, listeners);
    if let Some(files) = lowered {
        tracing::info!(
            configured = limits.max_connections,
            applied = cap,
            open_files = files,
            "{} lowered to {cap} per listener: the process may open {files} files (ulimit -n)",
            MAX_CONNECTIONS.name
        );
        limits.max_connections = cap;
    }
    limits
}

/// A listener on `addr`, or the error naming `variable`.
fn bind(addr: SocketAddr, variable: &str) -> Result<tokio::net::TcpListener, Error> {
    std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std)
        .map_err(|e| {
            Error::msg(format!(
                "cannot listen on `{addr}` ({variable}): {e}; set another `host:port`, or `off`"
            ))
        })
}
