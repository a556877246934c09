//! Configuration: environment first (12-factor), then `main!` defaults, then
//! built-in defaults. Every invalid value is an error naming the variable
//! and the expected form.
//!
//! [`Config`] holds what the runtime itself uses (connections, batching,
//! shutdown, logging) and every `WORKER_*` variable as given, so that
//! backends read their own (`worker-http` parses the HTTP and SSE
//! variables) and report their own errors the same way.

pub(crate) mod parse;
mod variables;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use worker_rules::{bounds, defaults, url};

pub use variables::{Variable, TLS_CA_FILE, VARIABLES};
pub(crate) use variables::{
    AMQP_HEARTBEAT, AMQP_MANAGEMENT_URL, AMQP_NAMED_URL, AMQP_PREFETCH, AMQP_URL, FLUSH_TIMEOUT,
    LOG, LOG_FORMAT, MEMORY_MAX_LENGTH, SHUTDOWN_TIMEOUT, STARTUP_TIMEOUT,
};

use parse::invalid;

/// Defaults given to `worker::main!(...)`; the environment overrides them.
/// Its `Debug` masks the URL's password.
#[derive(Clone, Copy, Default)]
pub struct MainOptions {
    /// `amqp = "..."`: default broker URL.
    pub amqp: Option<&'static str>,
    /// `prefetch = N`.
    pub prefetch: Option<u16>,
    /// `bulk_flush_interval = "5s"`.
    pub bulk_flush_interval: Option<Duration>,
    /// `shutdown_timeout = "30s"`.
    pub shutdown_timeout: Option<Duration>,
    /// `http = "127.0.0.1:8080"` or `"off"` (read by the HTTP server).
    pub http: Option<&'static str>,
}

impl MainOptions {
    /// The value `main!` gave to `option` (a name of
    /// [`worker_rules::options`], e.g. `prefetch`), as text.
    pub fn get(&self, option: &str) -> Option<String> {
        use worker_rules::options as o;
        let duration = |d: Option<Duration>| d.map(|d| humantime::format_duration(d).to_string());
        match option {
            o::MAIN_AMQP => self.amqp.map(str::to_owned),
            o::PREFETCH => self.prefetch.map(|p| p.to_string()),
            o::BULK_FLUSH_INTERVAL => duration(self.bulk_flush_interval),
            o::SHUTDOWN_TIMEOUT => duration(self.shutdown_timeout),
            o::MAIN_HTTP => self.http.map(str::to_owned),
            _ => None,
        }
    }
}

/// An invalid configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    pub(crate) variable: String,
    pub(crate) message: String,
}

impl ConfigError {
    /// An error of `variable` (or `main!` option): what was wrong and what
    /// is expected.
    pub fn new(variable: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            variable: variable.into(),
            message: message.into(),
        }
    }

    /// The variable (or `main!` option) at fault.
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// What was wrong and what is expected.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Output format of logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The resolved configuration. Its `Debug` masks every secret: the
/// passwords and secret query values of URLs, and header variables. The
/// values that may hold one (the connection URLs, the variables) are
/// private, read through [`connection_url`](Self::connection_url) and
/// [`var`](Self::var), which return them as given: never log those.
#[derive(Clone)]
pub struct Config {
    /// Default connection URL (`WORKER_AMQP_URL`).
    pub(crate) amqp_url: String,
    /// Named connections (`WORKER_AMQP_<NAME>_URL`), names lowercased.
    pub(crate) named_urls: BTreeMap<String, String>,
    /// Prefetch per consumer (`WORKER_AMQP_PREFETCH`).
    pub prefetch: u16,
    /// AMQP heartbeat in seconds (`WORKER_AMQP_HEARTBEAT`); `None`: off.
    pub amqp_heartbeat: Option<u16>,
    /// Default flush deadline of partial batches (`WORKER_FLUSH_TIMEOUT`).
    pub bulk_flush_interval: Duration,
    /// Time given to in-flight work at shutdown (`WORKER_SHUTDOWN_TIMEOUT`).
    pub shutdown_timeout: Duration,
    /// How long startup waits for a broker (`WORKER_STARTUP_TIMEOUT`).
    pub startup_timeout: Duration,
    /// Tracing filter (`WORKER_LOG`).
    pub log_filter: String,
    /// Log format (`WORKER_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Every `WORKER_*` variable, as given (trimmed; empty ones left out),
    /// for backends that read their own.
    pub(crate) vars: BTreeMap<String, String>,
    /// The defaults `main!` gave.
    pub main: MainOptions,
}

impl fmt::Debug for MainOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MainOptions")
            .field("amqp", &self.amqp.map(url::mask_url))
            .field("prefetch", &self.prefetch)
            .field("bulk_flush_interval", &self.bulk_flush_interval)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("http", &self.http)
            .finish()
    }
}

/// A variable's value as `Debug` of [`Config`] shows it: headers hidden,
/// URLs masked.
fn shown_value(name: &str, value: &str) -> String {
    if name.ends_with("_HEADERS") {
        "****".to_owned()
    } else {
        url::mask_url(value)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named: BTreeMap<&String, String> = self
            .named_urls
            .iter()
            .map(|(k, v)| (k, url::mask_url(v)))
            .collect();
        let vars: BTreeMap<&String, String> = self
            .vars
            .iter()
            .map(|(k, v)| (k, shown_value(k, v)))
            .collect();
        f.debug_struct("Config")
            .field("amqp_url", &url::mask_url(&self.amqp_url))
            .field("named_urls", &named)
            .field("prefetch", &self.prefetch)
            .field("bulk_flush_interval", &self.bulk_flush_interval)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("startup_timeout", &self.startup_timeout)
            .field("amqp_heartbeat", &self.amqp_heartbeat)
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("vars", &vars)
            .field("main", &self.main)
            .finish()
    }
}

impl Config {
    /// Reads the process environment over `defaults`.
    pub fn from_env(defaults: &MainOptions) -> Result<Config, ConfigError> {
        Self::from_vars(std::env::vars(), defaults)
    }

    /// Resolves from explicit variables (used by tests and the harness).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        main: &MainOptions,
    ) -> Result<Config, ConfigError> {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("WORKER_"))
            .map(|(k, v)| (k, v.trim().to_owned()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let (amqp_url, named_urls) = connections(&vars, main)?;
        let (log_filter, log_format) = logging(&vars)?;
        Ok(Config {
            amqp_url,
            named_urls,
            prefetch: prefetch(&vars, main)?,
            amqp_heartbeat: heartbeat(&vars)?,
            bulk_flush_interval: duration(&vars, &FLUSH_TIMEOUT, main.bulk_flush_interval)?
                .unwrap_or(defaults::FLUSH_TIMEOUT),
            shutdown_timeout: duration(&vars, &SHUTDOWN_TIMEOUT, main.shutdown_timeout)?
                .unwrap_or(defaults::SHUTDOWN_TIMEOUT),
            startup_timeout: duration(&vars, &STARTUP_TIMEOUT, None)?
                .unwrap_or(defaults::STARTUP_TIMEOUT),
            log_filter,
            log_format,
            vars,
            main: *main,
        })
    }

    /// The value of a variable, if set (and not empty).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// For a `<NAME>` variable (`WORKER_SSE_<NAME>_URL`, ...), the
    /// `(lowercased name, variable, value)` of every variable of that form,
    /// values as given.
    pub fn named_vars<'a>(
        &'a self,
        variable: &Variable,
    ) -> impl Iterator<Item = (String, &'a str, &'a str)> + 'a {
        variable.named(&self.vars)
    }

    /// The names of the named connections (`WORKER_AMQP_<NAME>_URL`),
    /// lowercased.
    pub fn connection_names(&self) -> impl Iterator<Item = &str> {
        self.named_urls.keys().map(String::as_str)
    }

    /// The management API URL of a connection (`WORKER_AMQP_MANAGEMENT_URL`,
    /// `WORKER_AMQP_<NAME>_MANAGEMENT_URL`), if set.
    pub fn management_url(&self, name: Option<&str>) -> Option<&str> {
        match name {
            None | Some("default") => self.var(AMQP_MANAGEMENT_URL.name),
            Some(n) => self.var(&format!(
                "WORKER_AMQP_{}_MANAGEMENT_URL",
                n.to_ascii_uppercase()
            )),
        }
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

/// `WORKER_AMQP_URL` (or `main!`'s, or the built-in one) and the named
/// connections.
fn connections(
    vars: &BTreeMap<String, String>,
    main: &MainOptions,
) -> Result<(String, BTreeMap<String, String>), ConfigError> {
    let amqp_url = vars
        .get(AMQP_URL.name)
        .cloned()
        .or_else(|| main.amqp.map(str::to_owned))
        .unwrap_or_else(|| defaults::AMQP_URL.to_owned());
    url::broker_url(&amqp_url).map_err(|e| invalid(AMQP_URL.name, e))?;
    let mut named_urls = BTreeMap::new();
    for (name, var, value) in AMQP_NAMED_URL.named(vars) {
        if name == "management" || name.ends_with("_management") {
            // WORKER_AMQP_[<NAME>_]MANAGEMENT_URL: a management API.
            if !(value.starts_with("http://") || value.starts_with("https://")) {
                return Err(invalid(
                    var,
                    format!(
                        "expected the management API's http:// or https:// URL, e.g. http://user:password@host:15672, got `{}`",
                        url::mask_url(value)
                    ),
                ));
            }
            continue;
        }
        url::broker_url(value).map_err(|e| invalid(var, e))?;
        named_urls.insert(name, value.to_owned());
    }
    Ok((amqp_url, named_urls))
}

fn prefetch(vars: &BTreeMap<String, String>, main: &MainOptions) -> Result<u16, ConfigError> {
    match vars.get(AMQP_PREFETCH.name) {
        Some(v) => parse::bounded(AMQP_PREFETCH.name, v, &bounds::PREFETCH).map(|n| n as u16),
        None => Ok(main.prefetch.unwrap_or(defaults::PREFETCH)),
    }
}

fn heartbeat(vars: &BTreeMap<String, String>) -> Result<Option<u16>, ConfigError> {
    let Some(v) = vars.get(AMQP_HEARTBEAT.name) else {
        return Ok(Some(defaults::AMQP_HEARTBEAT));
    };
    let whole = |d: Duration| {
        u16::try_from(d.as_secs())
            .ok()
            .filter(|_| d.subsec_nanos() == 0)
    };
    match parse::seconds_or_off(AMQP_HEARTBEAT.name, v)? {
        None => Ok(None),
        Some(d) => whole(d).map(Some).ok_or_else(|| {
            parse::invalid(
                AMQP_HEARTBEAT.name,
                format!("expected whole seconds in 1..=65535 (`10`, `10s`) or `off`, got `{v}`"),
            )
        }),
    }
}

fn duration(
    vars: &BTreeMap<String, String>,
    var: &Variable,
    main: Option<Duration>,
) -> Result<Option<Duration>, ConfigError> {
    match vars.get(var.name) {
        Some(v) => parse::seconds(var.name, v).map(Some),
        None => Ok(main),
    }
}

fn logging(vars: &BTreeMap<String, String>) -> Result<(String, LogFormat), ConfigError> {
    let filter = vars.get(LOG.name).map_or(LOG.default, String::as_str);
    let format = match vars.get(LOG_FORMAT.name).map(String::as_str) {
        None | Some("pretty") => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(invalid(
                LOG_FORMAT.name,
                format!("expected `pretty` or `json`, got `{other}`"),
            ))
        }
    };
    Ok((filter.to_owned(), format))
}

/// The file name this process was started as (`argv[0]`), if any: what
/// `--help` shows, what RabbitMQ's connection names carry and the default
/// OpenTelemetry service name.
pub fn binary_name() -> Option<String> {
    let argv0 = std::env::args_os().next()?;
    std::path::Path::new(&argv0)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
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
    fn debug_shows_no_secret() {
        let main = MainOptions {
            amqp: Some("amqp://u:mainpw@h/%2f"),
            ..MainOptions::default()
        };
        let c = Config::from_vars(
            vars(&[
                (
                    "WORKER_AMQP_URL",
                    "amqp://u:envpw@h1/%2f,amqp://u:envpw@h2/%2f",
                ),
                ("WORKER_AMQP_EU_URL", "amqps://u:namedpw@h/%2f"),
                ("WORKER_AMQP_MANAGEMENT_URL", "http://u:mgmtpw@h:15672"),
                ("WORKER_SSE_FEED_URL", "https://h/s?token=ssetoken"),
                (
                    "WORKER_SSE_FEED_HEADERS",
                    "Authorization: Bearer headertoken",
                ),
            ]),
            &main,
        )
        .unwrap();
        let shown = format!("{c:?} {:?}", c.main);
        for secret in [
            "mainpw",
            "envpw",
            "namedpw",
            "mgmtpw",
            "ssetoken",
            "headertoken",
        ] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
        assert!(shown.contains("u:****@h1"), "{shown}");
    }

    #[test]
    fn defaults_apply_without_environment() {
        let c = Config::from_vars(vars(&[]), &MainOptions::default()).unwrap();
        assert_eq!(c.amqp_url, defaults::AMQP_URL);
        assert_eq!(c.prefetch, 128);
        assert_eq!(c.bulk_flush_interval, Duration::from_secs(60));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.log_filter, "info");
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
                ("WORKER_AMQP_OTHER_URL", "memory://other"),
                ("WORKER_LOG_FORMAT", "json"),
                ("WORKER_HTTP_ADDR", " off "),
                ("WORKER_EMPTY", "  "),
                ("OTHER", "x"),
            ]),
            &d,
        )
        .unwrap();
        assert_eq!(c.amqp_url, "amqp://u:p@h/v");
        assert_eq!(c.prefetch, 10);
        assert_eq!(c.bulk_flush_interval, Duration::from_millis(250));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(2));
        assert_eq!(c.connection_url(Some("other")), Some("memory://other"));
        assert_eq!(c.connection_url(Some("OTHER")), Some("memory://other"));
        assert_eq!(c.connection_url(Some("missing")), None);
        assert_eq!(c.log_format, LogFormat::Json);
        // Backends read their own variables, trimmed; empty ones are unset.
        assert_eq!(c.var("WORKER_HTTP_ADDR"), Some("off"));
        assert_eq!(c.var("WORKER_EMPTY"), None);
        assert_eq!(c.var("OTHER"), None);
    }

    #[test]
    fn the_heartbeat_is_whole_seconds_or_off_ten_by_default() {
        let heartbeat = |v: Option<&str>| {
            let given: Vec<(&str, &str)> = v
                .map(|v| ("WORKER_AMQP_HEARTBEAT", v))
                .into_iter()
                .collect();
            Config::from_vars(vars(&given), &MainOptions::default())
                .unwrap()
                .amqp_heartbeat
        };
        assert_eq!(heartbeat(None), Some(10));
        assert_eq!(heartbeat(Some("5")), Some(5));
        assert_eq!(heartbeat(Some("30s")), Some(30));
        assert_eq!(heartbeat(Some("1m")), Some(60));
        assert_eq!(heartbeat(Some("off")), None);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (k, v) in [
            ("WORKER_AMQP_PREFETCH", "0"),
            ("WORKER_AMQP_PREFETCH", "many"),
            ("WORKER_AMQP_PREFETCH", "65536"),
            ("WORKER_FLUSH_TIMEOUT", "soon"),
            ("WORKER_SHUTDOWN_TIMEOUT", "-1"),
            ("WORKER_AMQP_URL", "http://x"),
            ("WORKER_AMQP_EU_URL", "redis://x"),
            ("WORKER_AMQP_URL", "amqp://a:p@h1:5681/%2f,"),
            ("WORKER_AMQP_URL", "amqp://a:p@h1:5681/%2f,memory://"),
            ("WORKER_AMQP_EU_URL", "amqp://a:p@h1/%2f,h2:5672"),
            ("WORKER_AMQP_MANAGEMENT_URL", "rabbit:15672"),
            ("WORKER_AMQP_EU_MANAGEMENT_URL", "amqp://rabbit"),
            ("WORKER_LOG_FORMAT", "xml"),
            ("WORKER_AMQP_HEARTBEAT", "0"),
            ("WORKER_AMQP_HEARTBEAT", "1.5"),
            ("WORKER_AMQP_HEARTBEAT", "65536"),
            ("WORKER_AMQP_HEARTBEAT", "often"),
        ] {
            let e = Config::from_vars(vars(&[(k, v)]), &MainOptions::default()).unwrap_err();
            assert_eq!(e.variable, k, "{e}");
            assert!(e.to_string().contains("expected"), "{e}");
        }
    }

    #[test]
    fn management_urls_are_not_connections() {
        let c = Config::from_vars(
            vars(&[
                ("WORKER_AMQP_MANAGEMENT_URL", "http://u:p@rabbit:15672"),
                ("WORKER_AMQP_EU_URL", "amqp://eu/%2f"),
                ("WORKER_AMQP_EU_MANAGEMENT_URL", "https://eu:15671"),
            ]),
            &MainOptions::default(),
        )
        .unwrap();
        assert_eq!(c.named_urls.keys().collect::<Vec<_>>(), ["eu"]);
        assert_eq!(c.management_url(None), Some("http://u:p@rabbit:15672"));
        assert_eq!(c.management_url(Some("eu")), Some("https://eu:15671"));
        assert_eq!(c.management_url(Some("other")), None);
    }

    #[test]
    fn a_node_list_is_one_connection() {
        let list = "amqp://a:p1@h1:5681/%2f, amqp://b:p2@h2:5682/%2f";
        let c =
            Config::from_vars(vars(&[("WORKER_AMQP_URL", list)]), &MainOptions::default()).unwrap();
        assert_eq!(c.connection_url(None), Some(list));
        let e = Config::from_vars(
            vars(&[(
                "WORKER_AMQP_URL",
                "amqp://a:p1@h1/%2f,amqp://b:topsecret@h2/%2f,",
            )]),
            &MainOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("node 3 of 3 is empty"), "{e}");
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }

    #[test]
    fn passwords_are_never_in_errors() {
        let e = Config::from_vars(
            vars(&[("WORKER_AMQP_URL", "http://u:topsecret@h/")]),
            &MainOptions::default(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
        assert!(e.to_string().contains("u:****@h"), "{e}");
    }
}
