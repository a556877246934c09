//! Startup: the window in which broker operations wait for their broker,
//! and the moment the application has started.
//!
//! While the runtime declares queues and runs the startup hooks, a broker
//! operation of a [`Publisher`](super::Publisher) that finds no broker
//! (a connection error) is retried with the consumers' backoff until
//! `WORKER_STARTUP_TIMEOUT` has passed since startup began, so that a
//! worker started a moment before its broker does not crash-loop. After
//! startup, operations fail at once, as handlers expect.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::{Backoff, RECONNECT_BASE, RECONNECT_CAP};
use crate::error::{BrokerError, BrokerErrorKind};

/// The startup window of an application, and whether it has started.
#[derive(Debug)]
pub(crate) struct Startup {
    window: Mutex<Option<Window>>,
    started: tokio::sync::watch::Sender<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    deadline: Instant,
    timeout: Duration,
}

impl Default for Startup {
    fn default() -> Self {
        Startup {
            window: Mutex::new(None),
            started: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Startup {
    /// Opens the window: operations wait up to `timeout` from now.
    pub(crate) fn begin(&self, timeout: Duration) {
        *self.window.lock().expect("startup lock poisoned") = Some(Window {
            deadline: Instant::now() + timeout,
            timeout,
        });
    }

    /// Closes the window and marks the application started.
    pub(crate) fn finish(&self) {
        *self.window.lock().expect("startup lock poisoned") = None;
        self.started.send_replace(true);
    }

    /// Closes the window (startup failed).
    pub(crate) fn abandon(&self) {
        *self.window.lock().expect("startup lock poisoned") = None;
    }

    pub(crate) fn is_started(&self) -> bool {
        *self.started.borrow()
    }

    /// Waits until the application has started.
    pub(crate) async fn started(&self) {
        let mut rx = self.started.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn window(&self) -> Option<Window> {
        *self.window.lock().expect("startup lock poisoned")
    }

    /// Runs `op`, and while the window is open runs it again after each
    /// failure that `lost` says is a missing broker, with backoff, until
    /// the window's deadline; then the last error, with `timed_out` saying
    /// why it is final.
    pub(crate) async fn retry<T, E, F, Fut>(
        &self,
        mut op: F,
        lost: impl Fn(&E) -> bool,
        timed_out: impl Fn(E, Duration) -> E,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let mut backoff = Backoff::new(RECONNECT_BASE, RECONNECT_CAP);
        loop {
            let error = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let Some(window) = self.window().filter(|_| lost(&error)) else {
                return Err(error);
            };
            let now = Instant::now();
            if now >= window.deadline {
                return Err(timed_out(error, window.timeout));
            }
            if backoff.attempt() == 0 {
                tracing::info!(
                    error = %error,
                    timeout = %humantime::format_duration(window.timeout),
                    "the broker does not answer yet; startup waits for it (WORKER_STARTUP_TIMEOUT)"
                );
            }
            let delay = backoff.next_delay().min(window.deadline - now);
            tracing::debug!(error = %error, retry_in_ms = delay.as_millis() as u64, "waiting for the broker");
            tokio::time::sleep(delay).await;
        }
    }
}

/// Whether a broker error means the broker is not there (yet).
pub(crate) fn broker_missing(e: &BrokerError) -> bool {
    matches!(
        e.kind,
        BrokerErrorKind::Connection | BrokerErrorKind::Closed
    )
}

/// The final error of an operation that waited for its broker.
pub(crate) fn waited_too_long(mut e: BrokerError, timeout: Duration) -> BrokerError {
    e.message = format!(
        "the broker did not answer within {} of startup (WORKER_STARTUP_TIMEOUT): {}",
        humantime::format_duration(timeout),
        e.message
    );
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn op(calls: &AtomicU32, succeed_at: u32) -> Result<u32, BrokerError> {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= succeed_at {
            Ok(n)
        } else {
            Err(BrokerError::connection("connection refused"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn in_the_window_a_missing_broker_is_waited_for() {
        let s = Startup::default();
        s.begin(Duration::from_secs(60));
        let calls = AtomicU32::new(0);
        let got = s
            .retry(|| op(&calls, 5), broker_missing, waited_too_long)
            .await;
        assert_eq!(got.unwrap(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_deadline_the_error_says_so_and_outside_it_fails_at_once() {
        let s = Startup::default();
        s.begin(Duration::from_secs(3));
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let e = s
            .retry(|| op(&calls, u32::MAX), broker_missing, waited_too_long)
            .await
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_secs(3));
        assert!(
            e.message
                .contains("within 3s of startup (WORKER_STARTUP_TIMEOUT): connection refused"),
            "{e}"
        );
        s.finish();
        assert!(s.is_started());
        let calls = AtomicU32::new(0);
        assert!(s
            .retry(|| op(&calls, 2), broker_missing, waited_too_long)
            .await
            .is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "after startup: no wait");
    }
}
