//! The bounds of the SSE consumers' connections: the longest line and the
//! largest event a stream may send (`WORKER_SSE_MAX_LINE`,
//! `WORKER_SSE_MAX_EVENT`), and how long a stream may stay silent
//! (`WORKER_SSE_IDLE_TIMEOUT`). Past any of them the consumer drops the
//! connection and reconnects with its backoff, so a broken or hostile
//! server can neither fill the process's memory nor leave the route
//! `ready` on a dead stream.

use std::time::Duration;

use worker_core::backend::config::parse::{bounded, seconds_or_off};
use worker_core::backend::config::{Config, ConfigError, Variable};
use worker_core::rules::bounds::Bound;

/// Default of `WORKER_SSE_MAX_LINE`: 1 MiB.
pub(crate) const DEFAULT_MAX_LINE: usize = 1 << 20;
/// Default of `WORKER_SSE_MAX_EVENT`: 8 MiB.
pub(crate) const DEFAULT_MAX_EVENT: usize = 8 << 20;
/// Default of `WORKER_SSE_IDLE_TIMEOUT`.
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// `WORKER_SSE_MAX_LINE`.
pub const SSE_MAX_LINE: Variable = Variable::new(
    "WORKER_SSE_MAX_LINE",
    "longest line an event stream may send, in bytes; a longer one drops the connection (reconnected with backoff)",
    "1048576",
);
/// `WORKER_SSE_MAX_EVENT`.
pub const SSE_MAX_EVENT: Variable = Variable::new(
    "WORKER_SSE_MAX_EVENT",
    "largest data of one event, in bytes (its `data:` lines joined); a larger one drops the connection (reconnected with backoff)",
    "8388608",
);
/// `WORKER_SSE_IDLE_TIMEOUT`.
pub const SSE_IDLE_TIMEOUT: Variable = Variable::new(
    "WORKER_SSE_IDLE_TIMEOUT",
    "longest silence of an event stream (any bytes, heartbeat comments included, reset it) before it is reconnected; `off` disables",
    "60s",
);

/// The sizes the two size variables accept: 1 byte to 1 GiB.
const SIZE: Bound = Bound {
    option: "size in bytes",
    min: 1,
    max: 1 << 30,
};

/// The bounds of every SSE connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseLimits {
    /// Longest line, in bytes, its line ending excluded (`WORKER_SSE_MAX_LINE`).
    pub max_line: usize,
    /// Largest data of one event, in bytes (`WORKER_SSE_MAX_EVENT`).
    pub max_event: usize,
    /// Longest time without a byte from the server, waiting for the
    /// response included; `None` when `off` (`WORKER_SSE_IDLE_TIMEOUT`).
    pub idle_timeout: Option<Duration>,
}

impl Default for SseLimits {
    fn default() -> Self {
        SseLimits {
            max_line: DEFAULT_MAX_LINE,
            max_event: DEFAULT_MAX_EVENT,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }
}

impl SseLimits {
    /// Reads the three variables of `config`.
    pub fn from_config(config: &Config) -> Result<SseLimits, ConfigError> {
        let mut out = SseLimits::default();
        if let Some(v) = config.var(SSE_MAX_LINE.name) {
            out.max_line = size(SSE_MAX_LINE.name, v)?;
        }
        if let Some(v) = config.var(SSE_MAX_EVENT.name) {
            out.max_event = size(SSE_MAX_EVENT.name, v)?;
        }
        if let Some(v) = config.var(SSE_IDLE_TIMEOUT.name) {
            out.idle_timeout = seconds_or_off(SSE_IDLE_TIMEOUT.name, v)?;
        }
        Ok(out)
    }
}

/// A size in bytes, a plain integer.
fn size(variable: &str, v: &str) -> Result<usize, ConfigError> {
    bounded(variable, v.trim(), &SIZE).map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use worker_core::backend::config::MainOptions;

    fn limits(list: &[(&str, &str)]) -> Result<SseLimits, ConfigError> {
        let config = Config::from_vars(
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            &MainOptions::default(),
        )
        .unwrap();
        SseLimits::from_config(&config)
    }

    #[test]
    fn defaults_and_overrides() {
        let d = limits(&[]).unwrap();
        assert_eq!(d, SseLimits::default());
        assert_eq!(d.max_line, 1_048_576);
        assert_eq!(d.max_event, 8_388_608);
        assert_eq!(d.idle_timeout, Some(Duration::from_secs(60)));
        // The defaults `--help` shows are the ones applied.
        assert_eq!(SSE_MAX_LINE.default, d.max_line.to_string());
        assert_eq!(SSE_MAX_EVENT.default, d.max_event.to_string());
        let c = limits(&[
            ("WORKER_SSE_MAX_LINE", "4096"),
            ("WORKER_SSE_MAX_EVENT", "65536"),
            ("WORKER_SSE_IDLE_TIMEOUT", "1.5"),
        ])
        .unwrap();
        assert_eq!((c.max_line, c.max_event), (4096, 65536));
        assert_eq!(c.idle_timeout, Some(Duration::from_millis(1500)));
        let off = limits(&[("WORKER_SSE_IDLE_TIMEOUT", "off")]).unwrap();
        assert_eq!(off.idle_timeout, None);
        let ms = limits(&[("WORKER_SSE_IDLE_TIMEOUT", "500ms")]).unwrap();
        assert_eq!(ms.idle_timeout, Some(Duration::from_millis(500)));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (k, v) in [
            ("WORKER_SSE_MAX_LINE", "0"),
            ("WORKER_SSE_MAX_LINE", "-1"),
            ("WORKER_SSE_MAX_LINE", "1MiB"),
            ("WORKER_SSE_MAX_LINE", "2000000000"),
            ("WORKER_SSE_MAX_EVENT", "lots"),
            ("WORKER_SSE_MAX_EVENT", "1.5"),
            ("WORKER_SSE_IDLE_TIMEOUT", "0"),
            ("WORKER_SSE_IDLE_TIMEOUT", "never"),
        ] {
            let e = limits(&[(k, v)]).unwrap_err();
            assert_eq!(e.variable(), k, "{e}");
            assert!(e.to_string().contains("expected"), "{e}");
        }
    }
}
