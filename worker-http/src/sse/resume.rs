//! The resume point of an `sse` route with `resume = true`: the id of the
//! last event whose batch settled, kept on a broker (a one-message queue,
//! `worker.sse.<route>.resume`) so that a restarted process continues
//! after it instead of at the stream's live edge.
//!
//! Stores are written behind the batches: a task stores the latest point
//! whenever it moves, so a burst of batches costs one store, and a store
//! that fails (the broker is away) is retried with backoff. The stored
//! point may lag the settled one, never lead it: a restart then repeats a
//! few events (at least once), and never skips one.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use worker_core::backend::backoff::{Backoff, RECONNECT_BASE, RECONNECT_CAP};
use worker_core::backend::broker::Record;

/// The name of an `sse` route's resume queue.
pub fn resume_queue(route: &str) -> String {
    format!("worker.sse.{route}.resume")
}

/// Reads the stored point at start, retrying until the broker answers:
/// starting from the live edge instead would skip events.
pub(crate) async fn read(
    route: &str,
    record: &dyn Record,
    shutdown: &CancellationToken,
) -> Option<Option<String>> {
    let mut backoff = Backoff::new(RECONNECT_BASE, RECONNECT_CAP);
    loop {
        match record.read().await {
            Ok(id) => {
                tracing::info!(
                    route,
                    resume_from = id.as_deref().unwrap_or(""),
                    "sse resume point read"
                );
                return Some(id);
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    route, error = %e, retry_in_ms = delay.as_millis() as u64,
                    "cannot read the sse resume point (resume = true); the stream waits for it"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => return None,
                }
            }
        }
    }
}

/// Where the batch side reports the settled point.
#[derive(Clone)]
pub(crate) struct ResumePoint(Arc<watch::Sender<Option<String>>>);

impl ResumePoint {
    /// The point moved to `id`.
    pub(crate) fn advance(&self, id: &str) {
        self.0.send_if_modified(|cur| {
            if cur.as_deref() == Some(id) {
                return false;
            }
            *cur = Some(id.to_owned());
            true
        });
    }
}

/// Starts the writer of `record`, which stores each new point; once every
/// [`ResumePoint`] is dropped it stores the last one and ends.
pub(crate) fn writer(
    route: &'static str,
    record: Arc<dyn Record>,
    start: Option<String>,
) -> (ResumePoint, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = watch::channel(start.clone());
    let task = tokio::spawn(async move {
        let mut stored = start;
        loop {
            let closed = rx.changed().await.is_err();
            let latest = rx.borrow_and_update().clone();
            if latest.is_some() && latest != stored {
                store(route, &*record, latest.clone().unwrap_or_default()).await;
                stored = latest;
            }
            if closed {
                return;
            }
        }
    });
    (ResumePoint(Arc::new(tx)), task)
}

/// Stores `id`, retrying with backoff until the broker takes it.
async fn store(route: &str, record: &dyn Record, id: String) {
    let mut backoff = Backoff::new(RECONNECT_BASE, RECONNECT_CAP);
    while let Err(e) = record.store(id.clone()).await {
        let delay = backoff.next_delay();
        tracing::warn!(
            route, error = %e, retry_in_ms = delay.as_millis() as u64,
            "cannot store the sse resume point; retrying"
        );
        tokio::time::sleep(delay).await;
    }
}
