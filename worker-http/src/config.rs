//! The HTTP server's and the SSE consumers' configuration, read from the
//! `WORKER_*` variables the runtime's [`Config`] carries, with the same
//! rules and errors as the runtime's own: an invalid value names its
//! variable and the expected form. [`HTTP_VARIABLES`] and
//! [`SSE_VARIABLES`] are the tables `--help` lists.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use worker_core::backend::config::parse::{invalid, seconds_or_off};
use worker_core::backend::config::{Config, ConfigError, Variable};
use worker_core::rules::options::{HTTP_OFF, MAIN_HTTP};
use worker_core::rules::{defaults, path, url};

use crate::limits::{self, HttpLimits};

/// `WORKER_HTTP_ADDR`.
pub const HTTP_ADDR: Variable = Variable::new(
    "WORKER_HTTP_ADDR",
    "HTTP listen address (routes, metrics, health) as host:port, or `off`",
    defaults::HTTP_ADDR,
)
.set_by_main(MAIN_HTTP);
/// `WORKER_METRICS_PATH`.
pub const METRICS_PATH: Variable = Variable::new(
    "WORKER_METRICS_PATH",
    "path of the Prometheus endpoint",
    defaults::METRICS_PATH,
);
/// `WORKER_HTTP_HEADER_TIMEOUT`.
pub const HTTP_HEADER_TIMEOUT: Variable = Variable {
    name: "WORKER_HTTP_HEADER_TIMEOUT",
    help:
        "time a client has to send a request head, also the keep-alive idle timeout; `off` disables",
    default: "75s",
    main_option: None,
};
/// `WORKER_SSE_<NAME>_URL`.
pub const SSE_NAMED_URL: Variable = Variable::new(
    "WORKER_SSE_<NAME>_URL",
    "stream URL of the sse connection <name>, replacing the routes' `url`",
    "",
);
/// `WORKER_SSE_<NAME>_HEADERS`.
pub const SSE_NAMED_HEADERS: Variable = Variable::new(
    "WORKER_SSE_<NAME>_HEADERS",
    "request headers of the sse connection <name>: `Name: value; Name2: value2`",
    "",
);

/// The variables of the HTTP server.
pub const HTTP_VARIABLES: &[Variable] = &[
    HTTP_ADDR,
    METRICS_PATH,
    HTTP_HEADER_TIMEOUT,
    limits::REQUEST_TIMEOUT,
    limits::BODY_TIMEOUT,
    limits::MAX_CONCURRENCY,
    limits::MAX_CONNECTIONS,
    limits::OPS_ADDR,
];

mod sse_limits;
pub use sse_limits::{SseLimits, SSE_IDLE_TIMEOUT, SSE_MAX_EVENT, SSE_MAX_LINE};

/// The variables of the SSE consumers.
pub const SSE_VARIABLES: &[Variable] = &[
    SSE_NAMED_URL,
    SSE_NAMED_HEADERS,
    SSE_MAX_LINE,
    SSE_MAX_EVENT,
    SSE_IDLE_TIMEOUT,
];

/// The HTTP server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Listen address; `None` when `off` (`WORKER_HTTP_ADDR`, or
    /// `main!(http = ...)`).
    pub addr: Option<SocketAddr>,
    /// Path of the Prometheus endpoint (`WORKER_METRICS_PATH`).
    pub metrics_path: String,
    /// Time a client has to send a request head, also the idle timeout of
    /// keep-alive connections; `None` when `off` (`WORKER_HTTP_HEADER_TIMEOUT`).
    pub header_timeout: Option<Duration>,
    /// Timeouts and caps (`WORKER_HTTP_*`), of each listener.
    pub limits: HttpLimits,
    /// Where `/metrics` and `/health/*` listen instead, if set
    /// (`WORKER_OPS_ADDR`).
    pub ops_addr: Option<SocketAddr>,
}

impl HttpConfig {
    /// Reads the HTTP variables of `config`.
    pub fn from_config(config: &Config) -> Result<HttpConfig, ConfigError> {
        let (var, addr) = match config.var(HTTP_ADDR.name) {
            Some(v) => (HTTP_ADDR.name, v),
            None => (
                "main!(http)",
                config.main.http.unwrap_or(defaults::HTTP_ADDR),
            ),
        };
        let addr = if addr.eq_ignore_ascii_case(HTTP_OFF) {
            None
        } else {
            Some(addr.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    var,
                    format!("expected `host:port` (e.g. `127.0.0.1:8080`) or `off`, got `{addr}`"),
                )
            })?)
        };
        let metrics_path = match config.var(METRICS_PATH.name) {
            Some(v) => {
                path::literal_path(v).map_err(|e| invalid(METRICS_PATH.name, e))?;
                v.to_owned()
            }
            None => defaults::METRICS_PATH.to_owned(),
        };
        let header_timeout = match config.var(HTTP_HEADER_TIMEOUT.name) {
            Some(v) => seconds_or_off(HTTP_HEADER_TIMEOUT.name, v)?,
            None => Some(defaults::HTTP_HEADER_TIMEOUT),
        };
        Ok(HttpConfig {
            addr,
            metrics_path,
            header_timeout,
            limits: HttpLimits::from_config(config)?,
            ops_addr: limits::ops_addr(config)?,
        })
    }
}

/// Request headers of an SSE connection. `Debug` masks the values, which
/// often hold credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SseHeaders(pub Vec<(String, String)>);

impl fmt::Debug for SseHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, _)| (k, "****")))
            .finish()
    }
}

/// The SSE consumers' configuration: per named connection, request
/// headers and a stream URL replacing the routes' `url`; and the bounds
/// of every connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseConfig {
    /// `WORKER_SSE_<NAME>_HEADERS`, names lowercased.
    pub headers: BTreeMap<String, SseHeaders>,
    /// `WORKER_SSE_<NAME>_URL`, names lowercased.
    pub urls: BTreeMap<String, String>,
    /// `WORKER_SSE_MAX_LINE`, `WORKER_SSE_MAX_EVENT`, `WORKER_SSE_IDLE_TIMEOUT`.
    pub limits: SseLimits,
}

impl SseConfig {
    /// Reads the SSE variables of `config`.
    pub fn from_config(config: &Config) -> Result<SseConfig, ConfigError> {
        let mut out = SseConfig {
            limits: SseLimits::from_config(config)?,
            ..SseConfig::default()
        };
        for (name, var, value) in config.named_vars(&SSE_NAMED_HEADERS) {
            out.headers.insert(name, parse_headers(var, value)?);
        }
        for (name, var, value) in config.named_vars(&SSE_NAMED_URL) {
            url::sse_url(value).map_err(|e| invalid(var, e))?;
            out.urls.insert(name, value.to_owned());
        }
        Ok(out)
    }
}

/// `Name: value; Name2: value2` (values cannot contain `;`).
fn parse_headers(variable: &str, v: &str) -> Result<SseHeaders, ConfigError> {
    let mut out = Vec::new();
    for item in v.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let parsed = item.split_once(':').and_then(|(name, value)| {
            let name = name.trim();
            let value = value.trim();
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            let printable = value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
            (token && printable).then(|| (name.to_owned(), value.to_owned()))
        });
        match parsed {
            Some(header) => out.push(header),
            None => {
                let name = item.split(':').next().unwrap_or_default().trim();
                return Err(invalid(
                    variable,
                    format!(
                        "expected `Name: value; Name2: value2` (printable ASCII values without `;`), got an invalid header `{name}`"
                    ),
                ));
            }
        }
    }
    Ok(SseHeaders(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use worker_core::backend::config::MainOptions;

    fn config(list: &[(&str, &str)], main: MainOptions) -> Config {
        Config::from_vars(
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            &main,
        )
        .unwrap()
    }

    #[test]
    fn http_defaults_and_overrides() {
        let c = HttpConfig::from_config(&config(&[], MainOptions::default())).unwrap();
        assert_eq!(c.addr, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(c.metrics_path, "/metrics");
        assert_eq!(c.header_timeout, Some(defaults::HTTP_HEADER_TIMEOUT));
        let main = MainOptions {
            http: Some("off"),
            ..Default::default()
        };
        assert_eq!(
            HttpConfig::from_config(&config(&[], main)).unwrap().addr,
            None
        );
        let c = HttpConfig::from_config(&config(
            &[
                ("WORKER_HTTP_ADDR", "0.0.0.0:9000"),
                ("WORKER_METRICS_PATH", "/internal/metrics"),
                ("WORKER_HTTP_HEADER_TIMEOUT", "off"),
            ],
            main,
        ))
        .unwrap();
        assert_eq!(c.addr, Some("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(c.metrics_path, "/internal/metrics");
        assert_eq!(c.header_timeout, None);
        let c = HttpConfig::from_config(&config(
            &[("WORKER_HTTP_HEADER_TIMEOUT", "2.5")],
            MainOptions::default(),
        ))
        .unwrap();
        assert_eq!(c.header_timeout, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (k, v) in [
            ("WORKER_HTTP_ADDR", "localhost"),
            ("WORKER_METRICS_PATH", "metrics"),
            ("WORKER_METRICS_PATH", "/"),
            ("WORKER_METRICS_PATH", "/m/{id}"),
            ("WORKER_METRICS_PATH", "/m?x=1"),
            ("WORKER_HTTP_HEADER_TIMEOUT", "0"),
            ("WORKER_HTTP_HEADER_TIMEOUT", "never"),
        ] {
            let e =
                HttpConfig::from_config(&config(&[(k, v)], MainOptions::default())).unwrap_err();
            assert_eq!(e.variable(), k, "{e}");
            assert!(e.to_string().contains("expected"), "{e}");
        }
    }

    #[test]
    fn sse_headers_are_parsed_and_masked() {
        let c = SseConfig::from_config(&config(
            &[(
                "WORKER_SSE_FEED_HEADERS",
                "Authorization: Bearer s3cret; X-Tenant: a:b ;",
            )],
            MainOptions::default(),
        ))
        .unwrap();
        let h = &c.headers["feed"];
        assert_eq!(
            h.0,
            [
                ("Authorization".to_owned(), "Bearer s3cret".to_owned()),
                ("X-Tenant".to_owned(), "a:b".to_owned())
            ]
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = SseConfig::from_config(&config(
            &[("WORKER_SSE_FEED_URL", "https://feeds.example/x")],
            MainOptions::default(),
        ))
        .unwrap();
        assert_eq!(c.urls["feed"], "https://feeds.example/x");
        let e = SseConfig::from_config(&config(
            &[("WORKER_SSE_FEED_URL", "ftp://x")],
            MainOptions::default(),
        ))
        .unwrap_err();
        assert_eq!(e.variable(), "WORKER_SSE_FEED_URL");
        for bad in ["no colon", "Bad Name: x", ": x"] {
            let e = SseConfig::from_config(&config(
                &[("WORKER_SSE_FEED_HEADERS", bad)],
                MainOptions::default(),
            ))
            .unwrap_err();
            assert_eq!(e.variable(), "WORKER_SSE_FEED_HEADERS", "{e}");
            assert!(e.to_string().contains("expected `Name: value"), "{e}");
        }
    }
}
