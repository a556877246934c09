//! Configuration: environment first (12-factor), then `main!` defaults, then
//! built-in defaults. Every invalid value is an error naming the variable and
//! the expected form.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Built-in default broker URL.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@localhost:5672/%2f";
/// Built-in default prefetch.
pub const DEFAULT_PREFETCH: u16 = 128;
/// Built-in default flush timeout of partial batches.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(60);
/// Built-in default shutdown timeout.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Built-in default HTTP address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// Built-in default path of the Prometheus endpoint.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";
/// Built-in default time a client has to send an HTTP request head: above
/// the 60 s idle timeout of common load balancers, since it also closes
/// keep-alive connections idle that long.
pub const DEFAULT_HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(75);

/// One configuration variable, as `--help` and the README list it.
///
/// [`VARIABLES`] is the table [`Config::from_vars`] reads its names from, so
/// the help text generated from it cannot drift from what is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The name; `<NAME>` stands for a connection name.
    pub name: &'static str,
    /// What it sets, and the accepted form.
    pub help: &'static str,
    /// The built-in default, or `""` when there is none.
    pub default: &'static str,
}

/// `WORKER_AMQP_URL`.
pub const AMQP_URL: Variable = Variable {
    name: "WORKER_AMQP_URL",
    help: "broker URL: amqp://, amqps:// or memory:// (the embedded broker)",
    default: DEFAULT_AMQP_URL,
};
/// `WORKER_AMQP_<NAME>_URL`.
pub const AMQP_NAMED_URL: Variable = Variable {
    name: "WORKER_AMQP_<NAME>_URL",
    help: "URL of the connection <name> (route option `connection = \"name\"`)",
    default: "",
};
/// `WORKER_AMQP_PREFETCH`.
pub const AMQP_PREFETCH: Variable = Variable {
    name: "WORKER_AMQP_PREFETCH",
    help: "unacked messages per consumer, 1..=65535; batches hold min(bulk_size, prefetch)",
    default: "128",
};
/// `WORKER_FLUSH_TIMEOUT`.
pub const FLUSH_TIMEOUT: Variable = Variable {
    name: "WORKER_FLUSH_TIMEOUT",
    help: "default flush deadline of partial batches: seconds (`0.5`) or a duration (`500ms`)",
    default: "60",
};
/// `WORKER_SHUTDOWN_TIMEOUT`.
pub const SHUTDOWN_TIMEOUT: Variable = Variable {
    name: "WORKER_SHUTDOWN_TIMEOUT",
    help: "time in-flight batches get at shutdown; unfinished work is requeued",
    default: "30s",
};
/// `WORKER_HTTP_ADDR`.
pub const HTTP_ADDR: Variable = Variable {
    name: "WORKER_HTTP_ADDR",
    help: "HTTP listen address (routes, metrics, health) as host:port, or `off`",
    default: DEFAULT_HTTP_ADDR,
};
/// `WORKER_METRICS_PATH`.
pub const METRICS_PATH: Variable = Variable {
    name: "WORKER_METRICS_PATH",
    help: "path of the Prometheus endpoint",
    default: DEFAULT_METRICS_PATH,
};
/// `WORKER_HTTP_HEADER_TIMEOUT`.
pub const HTTP_HEADER_TIMEOUT: Variable = Variable {
    name: "WORKER_HTTP_HEADER_TIMEOUT",
    help:
        "time a client has to send a request head, also the keep-alive idle timeout; `off` disables",
    default: "75s",
};
/// `WORKER_SSE_<NAME>_URL`.
pub const SSE_NAMED_URL: Variable = Variable {
    name: "WORKER_SSE_<NAME>_URL",
    help: "stream URL of the sse connection <name>, replacing the routes' `url`",
    default: "",
};
/// `WORKER_SSE_<NAME>_HEADERS`.
pub const SSE_NAMED_HEADERS: Variable = Variable {
    name: "WORKER_SSE_<NAME>_HEADERS",
    help: "request headers of the sse connection <name>: `Name: value; Name2: value2`",
    default: "",
};
/// `WORKER_LOG`.
pub const LOG: Variable = Variable {
    name: "WORKER_LOG",
    help: "tracing filter, e.g. `info` or `worker=debug,info`",
    default: "info",
};
/// `WORKER_LOG_FORMAT`.
pub const LOG_FORMAT: Variable = Variable {
    name: "WORKER_LOG_FORMAT",
    help: "`pretty` or `json`",
    default: "pretty",
};

/// Every variable [`Config::from_vars`] reads, in the order `--help` lists them.
pub const VARIABLES: &[Variable] = &[
    AMQP_URL,
    AMQP_NAMED_URL,
    AMQP_PREFETCH,
    FLUSH_TIMEOUT,
    SHUTDOWN_TIMEOUT,
    HTTP_ADDR,
    METRICS_PATH,
    HTTP_HEADER_TIMEOUT,
    SSE_NAMED_URL,
    SSE_NAMED_HEADERS,
    LOG,
    LOG_FORMAT,
];

/// `prefix` and `suffix` of a `<NAME>` variable (`WORKER_AMQP_`, `_URL`).
fn named_parts(var: &Variable) -> (&'static str, &'static str) {
    let (prefix, rest) = var
        .name
        .split_once("<NAME>")
        .expect("a named variable contains <NAME>");
    (prefix, rest)
}

/// The `(lowercased name, variable, value)` of every variable of the
/// `<NAME>` form `var` that is set.
fn named<'v>(
    vars: &'v BTreeMap<String, String>,
    var: &Variable,
) -> impl Iterator<Item = (String, &'v str, &'v str)> {
    let (prefix, suffix) = named_parts(var);
    vars.iter().filter_map(move |(k, v)| {
        let name = k.strip_prefix(prefix)?.strip_suffix(suffix)?;
        Some((name.to_ascii_lowercase(), k.as_str(), v.as_str()))
    })
}

/// Defaults given to `worker::main!(...)`; the environment overrides them.
#[derive(Debug, Clone, Copy, Default)]
pub struct MainOptions {
    /// `amqp = "..."`: default broker URL.
    pub amqp: Option<&'static str>,
    /// `prefetch = N`.
    pub prefetch: Option<u16>,
    /// `flush_timeout = "5s"`.
    pub flush_timeout: Option<Duration>,
    /// `shutdown_timeout = "30s"`.
    pub shutdown_timeout: Option<Duration>,
    /// `http = "127.0.0.1:8080"` or `"off"`.
    pub http: Option<&'static str>,
}

/// An invalid configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable (or `main!` option) at fault.
    pub variable: String,
    /// What was wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Output format of logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Default connection URL (`WORKER_AMQP_URL`).
    pub amqp_url: String,
    /// Named connections (`WORKER_AMQP_<NAME>_URL`), names lowercased.
    pub named_urls: BTreeMap<String, String>,
    /// Prefetch per consumer (`WORKER_AMQP_PREFETCH`).
    pub prefetch: u16,
    /// Default flush deadline of partial batches (`WORKER_FLUSH_TIMEOUT`).
    pub flush_timeout: Duration,
    /// Time given to in-flight work at shutdown (`WORKER_SHUTDOWN_TIMEOUT`).
    pub shutdown_timeout: Duration,
    /// HTTP listen address; `None` when `off` (`WORKER_HTTP_ADDR`).
    pub http_addr: Option<SocketAddr>,
    /// Path of the Prometheus endpoint (`WORKER_METRICS_PATH`, default `/metrics`).
    pub metrics_path: String,
    /// Time a client has to send a request head, also the idle timeout of
    /// keep-alive connections; `None` when `off`
    /// (`WORKER_HTTP_HEADER_TIMEOUT`, default 75 s).
    pub http_header_timeout: Option<Duration>,
    /// Request headers of named SSE connections (`WORKER_SSE_<NAME>_HEADERS`),
    /// names lowercased.
    pub sse_headers: BTreeMap<String, SseHeaders>,
    /// Stream URLs replacing the `url` of the SSE routes that use a named
    /// connection (`WORKER_SSE_<NAME>_URL`), names lowercased.
    pub sse_urls: BTreeMap<String, String>,
    /// Tracing filter (`WORKER_LOG`).
    pub log_filter: String,
    /// Log format (`WORKER_LOG_FORMAT`).
    pub log_format: LogFormat,
}

impl Config {
    /// Reads the process environment over `defaults`.
    pub fn from_env(defaults: &MainOptions) -> Result<Config, ConfigError> {
        Self::from_vars(std::env::vars(), defaults)
    }

    /// Resolves from explicit variables (used by tests and the harness).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        defaults: &MainOptions,
    ) -> Result<Config, ConfigError> {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("WORKER_"))
            .collect();
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

        let amqp_url = get(AMQP_URL.name)
            .map(str::to_owned)
            .or_else(|| defaults.amqp.map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned());
        check_url(AMQP_URL.name, &amqp_url)?;

        let mut named_urls = BTreeMap::new();
        for (name, k, v) in named(&vars, &AMQP_NAMED_URL) {
            if !name.is_empty() {
                check_url(k, v)?;
                named_urls.insert(name, v.to_owned());
            }
        }

        let prefetch = match get(AMQP_PREFETCH.name) {
            Some(v) => match v.parse::<u16>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(err(
                        AMQP_PREFETCH.name,
                        format!("expected an integer in 1..=65535, got `{v}`"),
                    ))
                }
            },
            None => defaults.prefetch.unwrap_or(DEFAULT_PREFETCH),
        };

        let flush_timeout = match get(FLUSH_TIMEOUT.name) {
            Some(v) => parse_seconds(FLUSH_TIMEOUT.name, v)?,
            None => defaults.flush_timeout.unwrap_or(DEFAULT_FLUSH_TIMEOUT),
        };
        let shutdown_timeout = match get(SHUTDOWN_TIMEOUT.name) {
            Some(v) => parse_seconds(SHUTDOWN_TIMEOUT.name, v)?,
            None => defaults
                .shutdown_timeout
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
        };

        let (http_var, http) = match get(HTTP_ADDR.name) {
            Some(v) => (HTTP_ADDR.name, v),
            None => ("main!(http)", defaults.http.unwrap_or(DEFAULT_HTTP_ADDR)),
        };
        let http_addr = if http.eq_ignore_ascii_case("off") {
            None
        } else {
            Some(http.parse::<SocketAddr>().map_err(|_| {
                err(
                    http_var,
                    format!("expected `host:port` (e.g. `127.0.0.1:8080`) or `off`, got `{http}`"),
                )
            })?)
        };

        let mut sse_headers = BTreeMap::new();
        for (name, k, v) in named(&vars, &SSE_NAMED_HEADERS) {
            if !name.is_empty() {
                sse_headers.insert(name, parse_sse_headers(k, v)?);
            }
        }
        let mut sse_urls = BTreeMap::new();
        for (name, k, v) in named(&vars, &SSE_NAMED_URL) {
            {
                let v = v.trim();
                let host = v
                    .strip_prefix("http://")
                    .or_else(|| v.strip_prefix("https://"));
                if host.is_none_or(str::is_empty) {
                    return Err(err(
                        k,
                        format!(
                            "expected an `http://` or `https://` URL, got `{}`",
                            mask_url(v)
                        ),
                    ));
                }
                if !name.is_empty() {
                    sse_urls.insert(name, v.to_owned());
                }
            }
        }

        let metrics_path = match get(METRICS_PATH.name) {
            Some(v) => check_metrics_path(v)?,
            None => DEFAULT_METRICS_PATH.to_owned(),
        };

        let http_header_timeout = match get(HTTP_HEADER_TIMEOUT.name) {
            None => Some(DEFAULT_HTTP_HEADER_TIMEOUT),
            Some(v) if v.eq_ignore_ascii_case("off") => None,
            Some(v) => match parse_seconds(HTTP_HEADER_TIMEOUT.name, v)? {
                d if d.is_zero() => {
                    return Err(err(
                        HTTP_HEADER_TIMEOUT.name,
                        format!("expected a positive duration (`30`, `30s`) or `off`, got `{v}`"),
                    ))
                }
                d => Some(d),
            },
        };

        let log_filter = get(LOG.name).unwrap_or(LOG.default).to_owned();
        let log_format = match get(LOG_FORMAT.name) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    LOG_FORMAT.name,
                    format!("expected `pretty` or `json`, got `{other}`"),
                ))
            }
        };

        Ok(Config {
            amqp_url,
            named_urls,
            prefetch,
            flush_timeout,
            shutdown_timeout,
            http_addr,
            metrics_path,
            http_header_timeout,
            sse_headers,
            sse_urls,
            log_filter,
            log_format,
        })
    }

    /// The URL of a connection: `None`/`"default"` is the default one.
    pub fn connection_url(&self, name: Option<&str>) -> Option<&str> {
        match name {
            None | Some("default") => Some(&self.amqp_url),
            Some(n) => self
                .named_urls
                .get(&n.to_ascii_lowercase())
                .map(String::as_str),
        }
    }
}

fn err(variable: &str, message: String) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        message,
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

/// `Name: value; Name2: value2` (values cannot contain `;`).
fn parse_sse_headers(variable: &str, v: &str) -> Result<SseHeaders, ConfigError> {
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
                return Err(err(
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

/// A literal absolute path: `/` then non-empty segments, no parameters,
/// query, fragment or whitespace.
fn check_metrics_path(v: &str) -> Result<String, ConfigError> {
    let valid = v.len() > 1
        && v.starts_with('/')
        && !v.ends_with('/')
        && !v.contains("//")
        && !v
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '{' | '}' | '*' | ':'));
    if valid {
        Ok(v.to_owned())
    } else {
        Err(err(
            METRICS_PATH.name,
            format!("expected an absolute path without parameters (e.g. `/metrics`), got `{v}`"),
        ))
    }
}

fn check_url(variable: &str, url: &str) -> Result<(), ConfigError> {
    let ok = ["amqp://", "amqps://", "memory://"]
        .iter()
        .any(|s| url.starts_with(s));
    if ok {
        Ok(())
    } else {
        Err(err(
            variable,
            format!(
                "expected an `amqp://`, `amqps://` or `memory://` URL, got `{}`",
                mask_url(url)
            ),
        ))
    }
}

/// A duration in seconds (`5`, `0.5`) or humantime (`500ms`, `5s`).
fn parse_seconds(variable: &str, v: &str) -> Result<Duration, ConfigError> {
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
    } else if let Ok(d) = humantime::parse_duration(v) {
        return Ok(d);
    }
    Err(err(
        variable,
        format!("expected seconds (`5`, `0.5`) or a duration (`500ms`, `5s`), got `{v}`"),
    ))
}

/// Masks the password of a URL: `amqp://user:****@host/`.
pub fn mask_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:****{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                ),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_without_environment() {
        let c = Config::from_vars(vars(&[]), &MainOptions::default()).unwrap();
        assert_eq!(c.amqp_url, DEFAULT_AMQP_URL);
        assert_eq!(c.prefetch, 128);
        assert_eq!(c.flush_timeout, Duration::from_secs(60));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(c.http_addr, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.metrics_path, "/metrics");
        assert_eq!(c.http_header_timeout, Some(DEFAULT_HTTP_HEADER_TIMEOUT));
    }

    #[test]
    fn environment_overrides_main_defaults() {
        let d = MainOptions {
            amqp: Some("memory://"),
            prefetch: Some(1024),
            ..Default::default()
        };
        let c = Config::from_vars(vars(&[]), &d).unwrap();
        assert_eq!((c.amqp_url.as_str(), c.prefetch), ("memory://", 1024));
        let c = Config::from_vars(
            vars(&[
                ("WORKER_AMQP_URL", "amqp://u:p@h/v"),
                ("WORKER_AMQP_PREFETCH", "10"),
                ("WORKER_FLUSH_TIMEOUT", "0.25"),
                ("WORKER_SHUTDOWN_TIMEOUT", "2s"),
                ("WORKER_HTTP_ADDR", "off"),
                ("WORKER_AMQP_OTHER_URL", "memory://other"),
                ("WORKER_LOG_FORMAT", "json"),
                ("WORKER_METRICS_PATH", "/internal/metrics"),
                ("WORKER_HTTP_HEADER_TIMEOUT", "off"),
            ]),
            &d,
        )
        .unwrap();
        assert_eq!(c.amqp_url, "amqp://u:p@h/v");
        assert_eq!(c.prefetch, 10);
        assert_eq!(c.flush_timeout, Duration::from_millis(250));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(2));
        assert_eq!(c.http_addr, None);
        assert_eq!(c.connection_url(Some("other")), Some("memory://other"));
        assert_eq!(c.connection_url(Some("OTHER")), Some("memory://other"));
        assert_eq!(c.connection_url(Some("missing")), None);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.metrics_path, "/internal/metrics");
        assert_eq!(c.http_header_timeout, None);
        let c = Config::from_vars(vars(&[("WORKER_HTTP_HEADER_TIMEOUT", "2.5")]), &d).unwrap();
        assert_eq!(c.http_header_timeout, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn sse_headers_are_parsed_and_masked() {
        let c = Config::from_vars(
            vars(&[(
                "WORKER_SSE_FEED_HEADERS",
                "Authorization: Bearer s3cret; X-Tenant: a:b ;",
            )]),
            &MainOptions::default(),
        )
        .unwrap();
        let h = &c.sse_headers["feed"];
        assert_eq!(
            h.0,
            [
                ("Authorization".to_owned(), "Bearer s3cret".to_owned()),
                ("X-Tenant".to_owned(), "a:b".to_owned())
            ]
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = Config::from_vars(
            vars(&[("WORKER_SSE_FEED_URL", "https://feeds.example/x")]),
            &MainOptions::default(),
        )
        .unwrap();
        assert_eq!(c.sse_urls["feed"], "https://feeds.example/x");
        let e = Config::from_vars(
            vars(&[("WORKER_SSE_FEED_URL", "ftp://x")]),
            &MainOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.variable, "WORKER_SSE_FEED_URL");
        for bad in ["no colon", "Bad Name: x", ": x"] {
            let e = Config::from_vars(
                vars(&[("WORKER_SSE_FEED_HEADERS", bad)]),
                &MainOptions::default(),
            )
            .unwrap_err();
            assert_eq!(e.variable, "WORKER_SSE_FEED_HEADERS", "{e}");
            assert!(e.to_string().contains("expected `Name: value"), "{e}");
        }
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (k, v) in [
            ("WORKER_AMQP_PREFETCH", "0"),
            ("WORKER_AMQP_PREFETCH", "many"),
            ("WORKER_FLUSH_TIMEOUT", "soon"),
            ("WORKER_SHUTDOWN_TIMEOUT", "-1"),
            ("WORKER_HTTP_ADDR", "localhost"),
            ("WORKER_AMQP_URL", "http://x"),
            ("WORKER_AMQP_EU_URL", "redis://x"),
            ("WORKER_LOG_FORMAT", "xml"),
            ("WORKER_METRICS_PATH", "metrics"),
            ("WORKER_METRICS_PATH", "/"),
            ("WORKER_METRICS_PATH", "/m/{id}"),
            ("WORKER_METRICS_PATH", "/m?x=1"),
            ("WORKER_HTTP_HEADER_TIMEOUT", "0"),
            ("WORKER_HTTP_HEADER_TIMEOUT", "never"),
        ] {
            let e = Config::from_vars(vars(&[(k, v)]), &MainOptions::default()).unwrap_err();
            assert_eq!(e.variable, k, "{e}");
            assert!(e.to_string().contains("expected"), "{e}");
        }
    }

    #[test]
    fn named_variables_are_found_by_their_parts() {
        let vars: BTreeMap<String, String> = [
            ("WORKER_AMQP_EU_URL", "memory://eu"),
            ("WORKER_AMQP_URL", "memory://"),
            ("WORKER_SSE_FEED_URL", "http://x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let found: Vec<_> = named(&vars, &AMQP_NAMED_URL).collect();
        assert_eq!(
            found,
            [("eu".to_owned(), "WORKER_AMQP_EU_URL", "memory://eu")]
        );
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("amqp://guest:secret@localhost:5672/%2f"),
            "amqp://guest:****@localhost:5672/%2f"
        );
        assert_eq!(mask_url("amqp://localhost/"), "amqp://localhost/");
        assert_eq!(mask_url("memory://"), "memory://");
        let e = Config::from_vars(
            vars(&[("WORKER_AMQP_URL", "http://u:topsecret@h/")]),
            &MainOptions::default(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("topsecret"));
    }
}
