//! What happens to a batch of events: the handler runs on it (bisected
//! with `bisect = true`), a batch that fails is run again on the events
//! that failed, with `max_retries` and `retry_backoff`, and the events of
//! its last failed attempt go to `dead_letter` or are dropped, loudly. Only
//! then is the batch settled and the resume point moved past it.
//!
//! While a batch is retried, the stream is not read further: the reader's
//! bounded channel fills and TCP holds the rest back (backpressure), so no
//! event waits unbounded in memory.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use tracing::Instrument;
use worker_core::backend::batch::bisect::{self, Run};
use worker_core::backend::batch::FlushReason;
use worker_core::backend::call::{log_isolated, run_logged, Logged};
use worker_core::backend::settlement::{Action, Outcome};

use super::adapter::SseBatch;
use super::consumer::{Settled, SseConsumer};
use super::parser::RawEvent;

/// The longest wait between two attempts of a batch.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The events of one attempt, split by what they need next.
#[derive(Default)]
struct Split {
    /// Handled (or acked by a typed error).
    done: usize,
    /// To run again.
    retry: Vec<RawEvent>,
    /// Given up on: the handler chose `reject`.
    rejected: Vec<RawEvent>,
    /// The message of the last failure.
    error: String,
}

/// The delay before retry `attempt` (1-based): `backoff * 2^(attempt-1)`,
/// capped at a minute.
pub(crate) fn retry_delay(backoff: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    backoff.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

/// `a..b` (or `a`) of the events' ids, for log lines.
pub(crate) fn id_range(events: &[RawEvent]) -> String {
    let id = |e: &RawEvent| e.id.clone().unwrap_or_else(|| "(no id)".to_owned());
    match (events.first(), events.last()) {
        (Some(a), Some(b)) if events.len() > 1 => format!("{}..{}", id(a), id(b)),
        (Some(a), _) => id(a),
        _ => String::new(),
    }
}

impl SseConsumer {
    /// Runs `events` to settlement: handled, retried, then dead-lettered
    /// or dropped.
    pub(crate) async fn settle(&self, reason: FlushReason, events: Vec<RawEvent>) -> Settled {
        let outcomes = self.stats.queue(&self.shown);
        let mut pending = events;
        let mut attempt = 0u32;
        loop {
            let split = self.attempt(reason, &pending).await;
            outcomes
                .acked
                .fetch_add(split.done as u64, Ordering::Relaxed);
            if !split.rejected.is_empty()
                && !self.give_up(&split.rejected, &split.error, attempt).await
            {
                return Settled::Interrupted;
            }
            if split.retry.is_empty() {
                return Settled::Done;
            }
            if self.max_retries.is_some_and(|max| attempt >= max) {
                return if self.give_up(&split.retry, &split.error, attempt).await {
                    Settled::Done
                } else {
                    Settled::Interrupted
                };
            }
            attempt += 1;
            let delay = retry_delay(self.retry_backoff, attempt);
            tracing::warn!(
                route = self.name,
                events = split.retry.len(),
                ids = %id_range(&split.retry),
                attempt,
                max_retries = self.max_retries,
                retry_in_ms = delay.as_millis() as u64,
                error = %split.error,
                "sse batch failed; retrying it (the stream waits)"
            );
            outcomes
                .retried
                .fetch_add(split.retry.len() as u64, Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.cancelled() => {
                    return self.interrupted(split.retry, &split.error).await;
                }
            }
            pending = split.retry;
        }
    }

    /// One attempt: the handler's runs on `events` (bisected with
    /// `bisect`), and what each event needs next.
    async fn attempt(&self, reason: FlushReason, events: &[RawEvent]) -> Split {
        let n = events.len();
        // With tracing on, the batch's `process` span (else a no-op).
        let span = worker_core::backend::otel::sse_batch_span(self.name, &self.shown, n);
        let error = std::sync::Mutex::new(String::new());
        let resolved = bisect::resolve(n, self.bisect, |items| {
            let run: Vec<RawEvent> = items.iter().map(|&i| events[i].clone()).collect();
            let bisecting = self.bisect && n > 1;
            let error = &error;
            async move {
                let (run, failure) = self.call(reason, run, bisecting).await;
                if let Some(message) = failure {
                    *error.lock().expect("error lock") = message;
                }
                run
            }
        })
        .instrument(span)
        .await;
        let error = error.into_inner().expect("error lock");
        if resolved.bisected {
            self.stats.bisected.fetch_add(1, Ordering::Relaxed);
            self.stats
                .bisect_calls
                .fetch_add(u64::from(resolved.runs - 1), Ordering::Relaxed);
        }
        let mut split = Split {
            error,
            ..Split::default()
        };
        for (event, (_, outcome)) in events.iter().zip(resolved.resolutions()) {
            match outcome {
                Outcome::Succeeded | Outcome::Failed(Some(Action::Ack)) => split.done += 1,
                Outcome::Failed(Some(Action::Reject)) => split.rejected.push(event.clone()),
                Outcome::Failed(_) => split.retry.push(event.clone()),
            }
        }
        split
    }

    /// One handler run; with `bisecting`, a run that is not split further
    /// logs its event once.
    async fn call(
        &self,
        reason: FlushReason,
        events: Vec<RawEvent>,
        bisecting: bool,
    ) -> (Run, Option<String>) {
        let span = tracing::info_span!(
            "batch",
            route = self.name,
            size = events.len(),
            reason = reason.name(),
            outcome = tracing::field::Empty
        );
        let n = events.len();
        let single = (n == 1).then(|| events[0].id.clone());
        let batch = SseBatch {
            events,
            stats: self.stats.clone(),
            source: self.shown.clone(),
        };
        let call = (self.handler.call)(batch, self.app.clone());
        let logged = if bisecting {
            Logged::Bisecting
        } else {
            Logged::Outcome
        };
        let result = run_logged(&self.stats, span, self.timeout, call, logged).await;
        let failure = result.as_ref().err().map(|f| f.message.clone());
        if let (Err(failed), Some(id)) = (&result, single.filter(|_| bisecting)) {
            log_isolated(self.name, id.as_deref(), None, failed);
        }
        let run = Run {
            result: result.map_err(|f| f.failure),
            verdicts: bisect::Verdicts::undecided(n),
        };
        (run, failure)
    }

    /// `events` failed their last attempt: to `dead_letter`, or dropped
    /// with an error line. `false` when shutdown came before the
    /// dead-letter queue took them.
    async fn give_up(&self, events: &[RawEvent], error: &str, retries: u32) -> bool {
        let outcomes = self.stats.queue(&self.shown);
        let Some(dl) = &self.dead_letter else {
            outcomes
                .dropped
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            tracing::error!(
                route = self.name,
                events = events.len(),
                ids = %id_range(events),
                retries,
                error,
                "sse events dropped: their batch failed its last attempt and the route has no `dead_letter`"
            );
            return true;
        };
        let messages: Vec<serde_json::Value> = events
            .iter()
            .map(|e| {
                json!({
                    "id": e.id,
                    "event": e.event,
                    "data": e.data,
                    "route": self.name,
                    "error": error,
                    "retries": retries,
                })
            })
            .collect();
        let mut backoff = worker_core::backend::backoff::Backoff::new(
            worker_core::backend::backoff::RECONNECT_BASE,
            worker_core::backend::backoff::RECONNECT_CAP,
        );
        loop {
            match dl.publisher.publish_all("", dl.queue, &messages).await {
                Ok(()) => break,
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        route = self.name, queue = dl.queue, error = %e,
                        retry_in_ms = delay.as_millis() as u64,
                        "cannot dead-letter sse events; retrying (the stream waits)"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.shutdown.cancelled() => return false,
                    }
                }
            }
        }
        outcomes
            .dead_lettered
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        tracing::warn!(
            route = self.name,
            queue = dl.queue,
            events = events.len(),
            ids = %id_range(events),
            retries,
            error,
            "sse events dead-lettered: their batch failed its last attempt"
        );
        true
    }

    /// Shutdown while a batch waits for its retry: with `resume`, its events
    /// are left for the next start (the resume point stays before them);
    /// without, they go to `dead_letter` or are dropped, loudly.
    async fn interrupted(&self, events: Vec<RawEvent>, error: &str) -> Settled {
        if self.resume.is_some() {
            tracing::warn!(
                route = self.name,
                events = events.len(),
                ids = %id_range(&events),
                "shutdown during the retries of an sse batch: its events are left for the next start (resume = true)"
            );
            return Settled::Interrupted;
        }
        // Shutdown: one last try at the dead-letter queue is all there is.
        match self.give_up(&events, error, 0).await {
            true => Settled::Done,
            false => {
                self.stats
                    .queue(&self.shown)
                    .dropped
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    route = self.name,
                    events = events.len(),
                    ids = %id_range(&events),
                    "sse events dropped at shutdown: their batch was failing and the dead-letter queue did not answer"
                );
                Settled::Interrupted
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_a_minute_and_ranges_name_the_ids() {
        let b = Duration::from_millis(100);
        assert_eq!(retry_delay(b, 1), b);
        assert_eq!(retry_delay(b, 3), Duration::from_millis(400));
        assert_eq!(retry_delay(b, 40), MAX_RETRY_DELAY);
        let ev = |id: &str| RawEvent {
            event: "message".into(),
            id: Some(id.into()),
            data: String::new(),
        };
        assert_eq!(id_range(&[ev("7"), ev("8"), ev("9")]), "7..9");
        assert_eq!(id_range(&[ev("7")]), "7");
    }
}
