//! The configuration variables: one table ([`VARIABLES`]) that
//! [`Config::from_vars`](super::Config::from_vars) reads its names from and
//! `--help` is generated from, so the two cannot drift. Backends that read
//! variables of their own (the HTTP server, SSE consumers) keep their table
//! beside their parser and list it through
//! [`Service::variables`](crate::runtime::Service::variables).

use std::collections::BTreeMap;

use worker_rules::{defaults, options};

/// One configuration variable, as `--help` and the README list it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The name; `<NAME>` stands for a connection name.
    pub name: &'static str,
    /// What it sets, and the accepted form.
    pub help: &'static str,
    /// The built-in default, or `""` when there is none.
    pub default: &'static str,
    /// The `worker::main!` option that overrides the built-in default.
    pub main_option: Option<&'static str>,
}

impl Variable {
    /// A variable without a `main!` option.
    pub const fn new(name: &'static str, help: &'static str, default: &'static str) -> Self {
        Variable {
            name,
            help,
            default,
            main_option: None,
        }
    }

    /// The same variable, with `option` of `worker::main!` setting its default.
    pub const fn set_by_main(self, option: &'static str) -> Self {
        Variable {
            main_option: Some(option),
            ..self
        }
    }

    /// For a `<NAME>` variable, the `(lowercased name, variable, value)` of
    /// every variable of that form in `vars`. `WORKER_AMQP_URL` itself is
    /// not a `WORKER_AMQP_<NAME>_URL`.
    pub fn named<'v>(
        &self,
        vars: &'v BTreeMap<String, String>,
    ) -> impl Iterator<Item = (String, &'v str, &'v str)> + 'v {
        let (prefix, suffix) = self
            .name
            .split_once("<NAME>")
            .expect("a named variable contains <NAME>");
        vars.iter().filter_map(move |(k, v)| {
            let name = k.strip_prefix(prefix)?.strip_suffix(suffix)?;
            (!name.is_empty()).then(|| (name.to_ascii_lowercase(), k.as_str(), v.as_str()))
        })
    }
}

/// `WORKER_AMQP_URL`.
pub(crate) const AMQP_URL: Variable = Variable::new(
    "WORKER_AMQP_URL",
    "broker URL: amqp://, amqps:// or memory:// (the embedded broker), or the comma-separated amqp(s):// URLs of a cluster's nodes",
    defaults::AMQP_URL,
)
.set_by_main(options::MAIN_AMQP);
/// `WORKER_AMQP_<NAME>_URL`.
pub(crate) const AMQP_NAMED_URL: Variable = Variable::new(
    "WORKER_AMQP_<NAME>_URL",
    "URL of the connection <name> (route option `connection = \"name\"`)",
    "",
);
/// `WORKER_AMQP_MANAGEMENT_URL`.
pub(crate) const AMQP_MANAGEMENT_URL: Variable = Variable::new(
    "WORKER_AMQP_MANAGEMENT_URL",
    "RabbitMQ management API of the default connection, http(s)://user:password@host:15672: `check --drift` reads queue arguments through it",
    "",
);
/// `WORKER_AMQP_<NAME>_MANAGEMENT_URL`.
pub(crate) const AMQP_NAMED_MANAGEMENT_URL: Variable = Variable::new(
    "WORKER_AMQP_<NAME>_MANAGEMENT_URL",
    "management API of the connection <name>",
    "",
);
/// `WORKER_AMQP_PREFETCH`.
pub(crate) const AMQP_PREFETCH: Variable = Variable::new(
    "WORKER_AMQP_PREFETCH",
    "unacked messages per consumer, 1..=65535; batches hold min(bulk_size, prefetch)",
    "128",
)
.set_by_main(options::PREFETCH);
/// `WORKER_AMQP_HEARTBEAT`.
pub(crate) const AMQP_HEARTBEAT: Variable = Variable::new(
    "WORKER_AMQP_HEARTBEAT",
    "AMQP heartbeat proposed to RabbitMQ: whole seconds 1..=65535 (`10`, `10s`) or `off`; a connection whose peer falls silent is declared lost after about twice that, and reconnected (to the next node of a cluster list); a `heartbeat` query parameter of the URL wins",
    "10s",
);
/// `WORKER_FLUSH_TIMEOUT`.
pub(crate) const FLUSH_TIMEOUT: Variable = Variable::new(
    "WORKER_FLUSH_TIMEOUT",
    "default flush deadline of partial batches: seconds (`0.5`) or a duration (`500ms`)",
    "60",
)
.set_by_main(options::BULK_FLUSH_INTERVAL);
/// `WORKER_SHUTDOWN_TIMEOUT`.
pub(crate) const SHUTDOWN_TIMEOUT: Variable = Variable::new(
    "WORKER_SHUTDOWN_TIMEOUT",
    "time in-flight batches get at shutdown; unfinished work is requeued",
    "30s",
)
.set_by_main(options::SHUTDOWN_TIMEOUT);
/// `WORKER_STARTUP_TIMEOUT`.
pub(crate) const STARTUP_TIMEOUT: Variable = Variable::new(
    "WORKER_STARTUP_TIMEOUT",
    "how long startup (declare_queue!, startup hooks) waits for a broker that does not answer yet; the process is not ready meanwhile",
    "60s",
);
/// `WORKER_LOG`.
pub(crate) const LOG: Variable = Variable::new(
    "WORKER_LOG",
    "tracing filter, e.g. `info` or `worker=debug,info`",
    "info",
);
/// `WORKER_LOG_FORMAT`.
pub(crate) const LOG_FORMAT: Variable =
    Variable::new("WORKER_LOG_FORMAT", "`pretty` or `json`", "pretty");

/// `WORKER_MEMORY_MAX_LENGTH`.
pub(crate) const MEMORY_MAX_LENGTH: Variable = Variable::new(
    "WORKER_MEMORY_MAX_LENGTH",
    "most ready messages one queue of the embedded broker holds; a publish past it is refused, as RabbitMQ's `x-overflow = reject-publish`",
    "unbounded",
);

/// `WORKER_TLS_CA_FILE`.
pub const TLS_CA_FILE: Variable = Variable::new(
    "WORKER_TLS_CA_FILE",
    "PEM file of CA certificates every client trusts besides the system's (amqps, the management API, SSE streams, OTLP)",
    "",
);
/// `WORKER_AMQP_[<NAME>_]TLS_CA_FILE`.
pub(crate) const AMQP_TLS_CA_FILE: Variable = Variable::new(
    "WORKER_AMQP_[<NAME>_]TLS_CA_FILE",
    "PEM file of CA certificates an amqps:// connection trusts, instead of WORKER_TLS_CA_FILE",
    "",
);
/// `WORKER_AMQP_[<NAME>_]TLS_CERT_FILE`.
pub(crate) const AMQP_TLS_CERT_FILE: Variable = Variable::new(
    "WORKER_AMQP_[<NAME>_]TLS_CERT_FILE",
    "PEM client certificate chain of an amqps:// connection (mutual TLS), with _TLS_KEY_FILE",
    "",
);
/// `WORKER_AMQP_[<NAME>_]TLS_KEY_FILE`.
pub(crate) const AMQP_TLS_KEY_FILE: Variable = Variable::new(
    "WORKER_AMQP_[<NAME>_]TLS_KEY_FILE",
    "PEM PKCS#8 private key of the client certificate",
    "",
);

/// Every variable [`Config::from_vars`](super::Config::from_vars) reads,
/// in the order `--help` lists them.
pub const VARIABLES: &[Variable] = &[
    AMQP_URL,
    AMQP_NAMED_URL,
    AMQP_MANAGEMENT_URL,
    AMQP_NAMED_MANAGEMENT_URL,
    AMQP_PREFETCH,
    AMQP_HEARTBEAT,
    FLUSH_TIMEOUT,
    SHUTDOWN_TIMEOUT,
    STARTUP_TIMEOUT,
    LOG,
    LOG_FORMAT,
    MEMORY_MAX_LENGTH,
    TLS_CA_FILE,
    AMQP_TLS_CA_FILE,
    AMQP_TLS_CERT_FILE,
    AMQP_TLS_KEY_FILE,
];

#[cfg(test)]
mod tests {
    use super::*;

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
        let found: Vec<_> = AMQP_NAMED_URL.named(&vars).collect();
        assert_eq!(
            found,
            [("eu".to_owned(), "WORKER_AMQP_EU_URL", "memory://eu")]
        );
    }
}
