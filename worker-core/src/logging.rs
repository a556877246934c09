//! Logging: the tracing subscriber from `WORKER_LOG` and `WORKER_LOG_FORMAT`.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{Config, ConfigError, LogFormat};

/// Installs the global tracing subscriber (once; later calls do nothing):
/// logs to stderr, filtered by `WORKER_LOG`, and, with the `otel` feature
/// and an OTLP endpoint in the `OTEL_*` variables, the OpenTelemetry layer
/// (see the `otel` module), which has its own filter (`info`).
pub fn init(config: &Config) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(log_filter(&config.log_filter)).map_err(|e| ConfigError {
        variable: "WORKER_LOG".to_owned(),
        message: format!("expected a tracing filter such as `info` or `worker=debug,info`: {e}"),
    })?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: redirected logs stay plain text.
        .with_ansi(std::io::stderr().is_terminal());
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = match config.log_format {
        LogFormat::Pretty => fmt.with_target(false).boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let otel = crate::otel::layer_from_env()?;
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init();
    std::panic::set_hook(Box::new(log_panic));
    Ok(())
}

/// The panic hook of a worker process: the panic as one ERROR log line, in
/// the log's format, instead of the standard hook's raw text on stderr
/// (which breaks JSON logs). Handler panics are caught and settled by the
/// runtime, which logs them with their route too; this line adds where the
/// panic happened. With `RUST_BACKTRACE` set, the backtrace is a field.
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = crate::call::panic_message(info.payload());
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    let backtrace = std::backtrace::Backtrace::capture();
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        tracing::error!(target: "worker::panic", thread, location, backtrace = %backtrace, "panicked: {message}");
    } else {
        tracing::error!(target: "worker::panic", thread, location, "panicked: {message}");
    }
}

/// Installs a subscriber that writes to the test harness's captured
/// output (shown for failing tests, as `test-log` does), filtered by the
/// `WORKER_LOG` environment variable, else `warn`: handler errors, panics
/// and timeouts show up in a failing test's output. Does nothing if a
/// subscriber is already installed. Called by
/// [`TestApp`](crate::testing::TestApp).
pub(crate) fn init_for_tests() {
    let user = std::env::var("WORKER_LOG").unwrap_or_else(|_| "warn".to_owned());
    let filter = EnvFilter::try_new(log_filter(&user))
        .unwrap_or_else(|_| EnvFilter::new(log_filter("warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false)
        .try_init();
}

/// A rate limit for a warning that one message can cause, so that a flood
/// of bad messages cannot flood the log: per key (a route), at most one
/// line every `period` seconds.
pub(crate) struct Every {
    period: u64,
    last: std::sync::Mutex<Vec<(&'static str, std::time::Instant, u64)>>,
}

impl Every {
    /// A limit of one line every `period_secs` seconds per key.
    pub(crate) const fn new(period_secs: u64) -> Self {
        Every {
            period: period_secs,
            last: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// `Some(n)` when a line for `key` may be logged now, `n` being how
    /// many were held back since the last one; `None` (and counted) when
    /// it may not.
    pub(crate) fn allow(&self, key: &'static str) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, at, held)) if now.duration_since(*at).as_secs() < self.period => {
                *held += 1;
                None
            }
            Some((_, at, held)) => {
                *at = now;
                Some(std::mem::take(held))
            }
            None => {
                last.push((key, now, 0));
                Some(0)
            }
        }
    }
}

use crate::otel::QUIET_CRATES;

/// The filter of the log lines: [`effective_filter`], and never the
/// OpenTelemetry spans ([`crate::otel::SPAN_TARGET`]), whose attributes
/// would otherwise prefix every line logged inside them.
fn log_filter(user: &str) -> String {
    format!(
        "{},{}=off",
        effective_filter(user),
        crate::otel::SPAN_TARGET
    )
}

/// The user's filter, with [`QUIET_CRATES`] silenced unless the filter
/// names one of them or asks for `debug` or `trace` everywhere.
pub(crate) fn effective_filter(user: &str) -> String {
    let directives: Vec<&str> = user.split(',').map(str::trim).collect();
    let names_one = directives.iter().any(|d| {
        QUIET_CRATES.iter().any(|c| {
            d.strip_prefix(c)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['=', ':', '[']))
        })
    });
    let verbose = directives.iter().any(|d| {
        !d.contains('=') && (d.eq_ignore_ascii_case("debug") || d.eq_ignore_ascii_case("trace"))
    });
    if names_one || verbose {
        return user.to_owned();
    }
    let mut out = user.to_owned();
    for c in QUIET_CRATES {
        out.push_str(&format!(",{c}=off"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_leave_the_opentelemetry_spans_out() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_filter(EnvFilter::new(log_filter("info")));
        let subscriber = tracing_subscriber::registry().with(fmt);
        tracing::subscriber::with_default(subscriber, || {
            let otel = tracing::info_span!(target: "worker::otel", "process", "messaging.system" = "rabbitmq");
            let _o = otel.enter();
            let batch = tracing::info_span!("batch", route = "jobs");
            let _b = batch.enter();
            tracing::info!("handled");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("batch{route=\"jobs\"}: "), "{out}");
        assert!(out.contains("handled"), "{out}");
        assert!(
            !out.contains("messaging.system") && !out.contains("process"),
            "{out}"
        );
    }

    #[test]
    fn every_lets_one_line_per_period_and_key_through() {
        let every = Every::new(3600);
        assert_eq!(every.allow("a"), Some(0));
        assert_eq!(every.allow("a"), None);
        assert_eq!(every.allow("a"), None);
        assert_eq!(every.allow("b"), Some(0));
        let now = Every::new(0);
        assert_eq!(now.allow("a"), Some(0));
        assert_eq!(now.allow("a"), Some(0));
    }

    #[test]
    fn lapin_is_quiet_unless_asked_for() {
        assert_eq!(
            effective_filter("info"),
            "info,lapin=off,amq_protocol=off,async_rs=off,tcp_stream=off"
        );
        assert!(effective_filter("worker=debug,warn")
            .ends_with(",lapin=off,amq_protocol=off,async_rs=off,tcp_stream=off"));
        assert_eq!(effective_filter("info,lapin=debug"), "info,lapin=debug");
        assert_eq!(effective_filter("lapin"), "lapin");
        assert_eq!(effective_filter("debug"), "debug");
        assert_eq!(effective_filter("TRACE"), "TRACE");
        assert!(effective_filter("lapinx=info").contains("lapin=off"));
    }
}
