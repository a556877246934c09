//! Logging: the tracing subscriber from `WORKER_LOG` and `WORKER_LOG_FORMAT`.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{Config, ConfigError, LogFormat};

/// Installs the global tracing subscriber (once; later calls do nothing):
/// logs to stderr, filtered by `WORKER_LOG`, and, with the `otel` feature
/// and an OTLP endpoint in the `OTEL_*` variables, the OpenTelemetry layer
/// (see [`crate::otel`]), which has its own filter (`info`).
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
    Ok(())
}

/// Installs a subscriber that writes to the test harness's captured
/// output (shown for failing tests, as `test-log` does), filtered by the
/// `WORKER_LOG` environment variable, else `warn`: handler errors, panics
/// and timeouts show up in a failing test's output. Does nothing if a
/// subscriber is already installed. Called by
/// [`TestApp`](crate::testing::TestApp).
pub fn init_for_tests() {
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

/// Crates whose own logs repeat, in their internal terms, failures that the
/// runtime already reports once in its own words (with the connection's
/// name and the password masked): lapin logs a refused login as three lines
/// of its I/O loop, for example.
pub const QUIET_CRATES: &[&str] = &["lapin", "amq_protocol", "async_rs", "tcp_stream"];

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
pub fn effective_filter(user: &str) -> String {
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
