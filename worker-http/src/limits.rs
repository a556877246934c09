//! The HTTP server's limits, and the separate address of the operations
//! endpoints, read from their `WORKER_HTTP_*` and `WORKER_OPS_ADDR`
//! variables.
//!
//! Defaults, as a tower-http user would set them:
//! - a request not answered within 60 s gets a JSON `503`
//!   (`WORKER_HTTP_REQUEST_TIMEOUT`);
//! - a body not received within 30 s of its head gets a JSON `408`, and
//!   the connection is closed (`WORKER_HTTP_BODY_TIMEOUT`);
//! - at most 512 requests are inside the application at once; the next
//!   ones get a JSON `503` with `Retry-After: 1` at once
//!   (`WORKER_HTTP_MAX_CONCURRENCY`); the health and metrics endpoints
//!   are never refused;
//! - at most 1 024 connections are open at once; the next ones get a
//!   `503` and are closed (`WORKER_HTTP_MAX_CONNECTIONS`).

use std::net::SocketAddr;
use std::time::Duration;

use worker_core::backend::config::parse::{bounded, invalid, seconds_or_off};
use worker_core::backend::config::{Config, ConfigError, Variable};
use worker_core::rules::bounds::Bound;

/// `WORKER_HTTP_REQUEST_TIMEOUT`.
pub const REQUEST_TIMEOUT: Variable = Variable::new(
    "WORKER_HTTP_REQUEST_TIMEOUT",
    "time a request has to be answered (head of the response) before a 503; `off` disables",
    "60s",
);
/// `WORKER_HTTP_BODY_TIMEOUT`.
pub const BODY_TIMEOUT: Variable = Variable::new(
    "WORKER_HTTP_BODY_TIMEOUT",
    "time a client has to send a whole request body after its head, before a 408; `off` disables",
    "30s",
);
/// `WORKER_HTTP_MAX_CONCURRENCY`.
pub const MAX_CONCURRENCY: Variable = Variable::new(
    "WORKER_HTTP_MAX_CONCURRENCY",
    "requests inside the application at once; more are refused with 503 (health and metrics never are)",
    "512",
);
/// `WORKER_HTTP_MAX_CONNECTIONS`.
pub const MAX_CONNECTIONS: Variable = Variable::new(
    "WORKER_HTTP_MAX_CONNECTIONS",
    "open connections at once, per listener; more are answered 503 and closed",
    "1024",
);
/// `WORKER_OPS_ADDR`.
pub const OPS_ADDR: Variable = Variable::new(
    "WORKER_OPS_ADDR",
    "separate listen address (host:port) of /metrics and /health/*, which then leave WORKER_HTTP_ADDR",
    "",
);

const CONCURRENCY: Bound = Bound {
    option: MAX_CONCURRENCY.name,
    min: 1,
    max: 1_000_000,
};
const CONNECTIONS: Bound = Bound {
    option: MAX_CONNECTIONS.name,
    min: 1,
    max: 1_000_000,
};

/// The limits of one HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// `WORKER_HTTP_REQUEST_TIMEOUT`; `None` when `off`.
    pub request_timeout: Option<Duration>,
    /// `WORKER_HTTP_BODY_TIMEOUT`; `None` when `off`.
    pub body_timeout: Option<Duration>,
    /// `WORKER_HTTP_MAX_CONCURRENCY`.
    pub max_concurrency: usize,
    /// `WORKER_HTTP_MAX_CONNECTIONS`.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            request_timeout: Some(Duration::from_secs(60)),
            body_timeout: Some(Duration::from_secs(30)),
            max_concurrency: 512,
            max_connections: 1024,
        }
    }
}

impl HttpLimits {
    /// Reads the limits' variables of `config`.
    pub fn from_config(config: &Config) -> Result<HttpLimits, ConfigError> {
        let mut limits = HttpLimits::default();
        if let Some(v) = config.var(REQUEST_TIMEOUT.name) {
            limits.request_timeout = seconds_or_off(REQUEST_TIMEOUT.name, v)?;
        }
        if let Some(v) = config.var(BODY_TIMEOUT.name) {
            limits.body_timeout = seconds_or_off(BODY_TIMEOUT.name, v)?;
        }
        if let Some(v) = config.var(MAX_CONCURRENCY.name) {
            limits.max_concurrency = bounded(MAX_CONCURRENCY.name, v, &CONCURRENCY)? as usize;
        }
        if let Some(v) = config.var(MAX_CONNECTIONS.name) {
            limits.max_connections = bounded(MAX_CONNECTIONS.name, v, &CONNECTIONS)? as usize;
        }
        Ok(limits)
    }
}

/// The connection cap a listener applies: `configured`, lowered to three
/// quarters of the files the process may open (its soft `RLIMIT_NOFILE`,
/// shared by `listeners`), so that accepting connections never runs the
/// process out of file descriptors (then `accept` fails, and nothing, not
/// even the health endpoint, is answered). The second value says whether
/// it was lowered, and from what limit.
pub fn effective_max_connections(configured: usize, listeners: usize) -> (usize, Option<u64>) {
    match open_files_limit() {
        Some(files) => {
            let budget = (files as usize).saturating_mul(3) / 4 / listeners.max(1);
            if budget < configured {
                (budget.max(1), Some(files))
            } else {
                (configured, None)
            }
        }
        None => (configured, None),
    }
}

/// The soft limit of open files of this process, from `/proc/self/limits`
/// (`None` when unknown or unlimited).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `WORKER_OPS_ADDR`, if set.
pub fn ops_addr(config: &Config) -> Result<Option<SocketAddr>, ConfigError> {
    config
        .var(OPS_ADDR.name)
        .map(|v| {
            v.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    OPS_ADDR.name,
                    format!("expected `host:port` (e.g. `127.0.0.1:9090`), got `{v}`"),
                )
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use worker_core::backend::config::MainOptions;

    fn config(list: &[(&str, &str)]) -> Config {
        Config::from_vars(
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            &MainOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn the_connection_cap_stays_within_the_open_files_limit() {
        let files = open_files_limit().expect("Linux has /proc/self/limits");
        let budget = files as usize * 3 / 4;
        assert_eq!(
            effective_max_connections(budget + 10, 1),
            (budget, Some(files))
        );
        assert_eq!(effective_max_connections(budget / 2 - 1, 2).1, None);
        assert_eq!(effective_max_connections(1, 1), (1, None));
    }

    #[test]
    fn defaults_overrides_and_errors() {
        assert_eq!(
            HttpLimits::from_config(&config(&[])).unwrap(),
            HttpLimits::default()
        );
        let l = HttpLimits::from_config(&config(&[
            ("WORKER_HTTP_REQUEST_TIMEOUT", "off"),
            ("WORKER_HTTP_BODY_TIMEOUT", "500ms"),
            ("WORKER_HTTP_MAX_CONCURRENCY", "3"),
            ("WORKER_HTTP_MAX_CONNECTIONS", "7"),
        ]))
        .unwrap();
        assert_eq!(
            l,
            HttpLimits {
                request_timeout: None,
                body_timeout: Some(Duration::from_millis(500)),
                max_concurrency: 3,
                max_connections: 7,
            }
        );
        let e =
            HttpLimits::from_config(&config(&[("WORKER_HTTP_MAX_CONNECTIONS", "0")])).unwrap_err();
        assert_eq!(e.variable(), "WORKER_HTTP_MAX_CONNECTIONS");
        let e =
            HttpLimits::from_config(&config(&[("WORKER_HTTP_BODY_TIMEOUT", "soon")])).unwrap_err();
        assert_eq!(e.variable(), "WORKER_HTTP_BODY_TIMEOUT");
        assert_eq!(ops_addr(&config(&[])).unwrap(), None);
        assert_eq!(
            ops_addr(&config(&[("WORKER_OPS_ADDR", "127.0.0.1:9090")])).unwrap(),
            Some("127.0.0.1:9090".parse().unwrap())
        );
        let e = ops_addr(&config(&[("WORKER_OPS_ADDR", "nine")])).unwrap_err();
        assert!(e.message().contains("nine"), "{e}");
    }
}
