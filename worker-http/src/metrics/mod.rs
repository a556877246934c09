//! Prometheus metrics.
//!
//! The runtime's own metrics are read at scrape time from the route
//! counters (see `docs/operations.md` for every family). Users add their own
//! metrics to the process-wide [`registry`]: it is scraped with the
//! runtime's on the same endpoint.
//!
//! ```
//! use worker_http::metrics::{self, prometheus_client::metrics::counter::Counter};
//!
//! let jobs: Counter = Counter::default();
//! metrics::registry().register("jobs_done", "Jobs finished", jobs.clone());
//! jobs.inc();
//! ```
//!
//! The user registry is process-global (like Prometheus' default registry)
//! rather than application state: startup hooks run before the server
//! starts, and a global is there for them, for libraries, and for code that
//! has no `App` at hand.

mod collector;
mod http;
pub mod process;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
pub use prometheus_client::registry::Registry;
use worker_core::backend::registry::RouteKind;
use worker_core::backend::runtime::ServiceContext;

pub use self::http::{HttpMetrics, PathStats, Refusals, UNMATCHED};
pub(crate) use collector::RuntimeCollector;

/// The Prometheus client crate, at the version worker uses (for metric
/// types: `Counter`, `Gauge`, `Histogram`, `Family`).
pub use prometheus_client;

/// Content type of the exposition (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

static USER_REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();

/// The process-wide registry for the application's own metrics, scraped on
/// the metrics endpoint after the runtime's. Hold the guard briefly.
pub fn registry() -> MutexGuard<'static, Registry> {
    USER_REGISTRY
        .get_or_init(|| Mutex::new(Registry::default()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Encodes one server's metrics.
pub(crate) struct Scraper {
    runtime: Registry,
}

impl Scraper {
    pub(crate) fn new(ctx: &ServiceContext, http: Arc<HttpMetrics>) -> Self {
        let mut routes: Vec<_> = ctx
            .routes
            .iter()
            .filter(|r| !matches!(r.kind, RouteKind::Service(s) if !s.consumes()))
            .map(|r| ctx.stats.route(r.name, r.kind.backend()))
            .collect();
        routes.sort_by(|a, b| a.route.cmp(&b.route));
        routes.dedup_by(|a, b| Arc::ptr_eq(a, b));
        let mut runtime = Registry::default();
        runtime.register_collector(Box::new(RuntimeCollector {
            routes,
            connections: ctx.used_connections(),
            http,
        }));
        Scraper { runtime }
    }

    /// The exposition text: the runtime's metrics, the users', `# EOF`.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        encode_registry(&mut out, &self.runtime)?;
        encode_registry(&mut out, &registry())?;
        encode_eof(&mut out)?;
        Ok(out)
    }
}

pub(crate) fn scrape(scraper: &Scraper) -> Response {
    match scraper.encode() {
        Ok(text) => (
            [(
                CONTENT_TYPE,
                HeaderValue::from_static(CONTENT_TYPE_OPENMETRICS),
            )],
            text,
        )
            .into_response(),
        Err(_) => crate::error::error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics could not be encoded",
        ),
    }
}
