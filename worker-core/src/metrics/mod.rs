//! The runtime's counters, per route and queue: final actions, flush
//! reasons, failures, durations, readiness. Code on the message path only
//! bumps atomics here; the metrics endpoint (`worker-http`) and the testing
//! harness read them.

mod histogram;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use histogram::{DelayHistogram, DurationHistogram, HistogramSnapshot};

/// Final settlement counts of one queue of a route.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct QueueOutcomes {
    /// Acked.
    pub acked: AtomicU64,
    /// Returned to the queue.
    pub requeued: AtomicU64,
    /// Discarded (or dead-lettered by the broker's queue arguments).
    pub rejected: AtomicU64,
    /// Republished through a delay queue for another attempt.
    pub retried: AtomicU64,
    /// Published to the route's dead-letter queue.
    pub dead_lettered: AtomicU64,
    /// Given up without a dead-letter queue to keep them (`sse` events of
    /// a batch that failed its last attempt), logged at `error`.
    pub dropped: AtomicU64,
    /// Bodies that did not decode.
    pub decode_failures: AtomicU64,
}

/// A snapshot of `QueueOutcomes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutcomeCounts {
    /// Acked.
    pub acked: u64,
    /// Returned to the queue.
    pub requeued: u64,
    /// Discarded (or dead-lettered by the broker).
    pub rejected: u64,
    /// Retried through a delay queue.
    pub retried: u64,
    /// Published to the dead-letter queue.
    pub dead_lettered: u64,
    /// Given up without a dead-letter queue.
    pub dropped: u64,
    /// Bodies that did not decode.
    pub decode_failures: u64,
}

impl std::ops::AddAssign for OutcomeCounts {
    fn add_assign(&mut self, other: OutcomeCounts) {
        self.acked += other.acked;
        self.requeued += other.requeued;
        self.rejected += other.rejected;
        self.retried += other.retried;
        self.dead_lettered += other.dead_lettered;
        self.dropped += other.dropped;
        self.decode_failures += other.decode_failures;
    }
}

impl QueueOutcomes {
    /// Reads the counters.
    pub fn snapshot(&self) -> OutcomeCounts {
        OutcomeCounts {
            acked: self.acked.load(Ordering::Relaxed),
            requeued: self.requeued.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            decode_failures: self.decode_failures.load(Ordering::Relaxed),
        }
    }
}

/// Why a cron slot did not run (`worker_cron_slots_skipped_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Another process holds the `singleton` lock: it fires the slot.
    LockHeldElsewhere,
    /// The broker of the `singleton` lock does not answer.
    BrokerUnreachable,
    /// The route's previous runs (`max_concurrency`) are still going.
    Busy,
}

impl SkipReason {
    /// Every reason, in the order of [`RouteStats::slots_skipped`].
    pub const ALL: [SkipReason; 3] = [
        SkipReason::LockHeldElsewhere,
        SkipReason::BrokerUnreachable,
        SkipReason::Busy,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::LockHeldElsewhere => "lock_held_elsewhere",
            SkipReason::BrokerUnreachable => "broker_unreachable",
            SkipReason::Busy => "busy",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why an SSE consumer dropped its connection to the stream
/// (`worker_sse_stream_errors_total{reason}`); each reconnects with backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// A line longer than `WORKER_SSE_MAX_LINE`.
    LineTooLong,
    /// An event's data larger than `WORKER_SSE_MAX_EVENT`.
    EventTooLarge,
    /// No byte received for `WORKER_SSE_IDLE_TIMEOUT`.
    IdleTimeout,
    /// A redirect to another origin, or from https to http.
    RedirectRefused,
}

impl StreamError {
    /// Every reason, in the order of [`RouteStats::stream_errors`].
    pub const ALL: [StreamError; 4] = [
        StreamError::LineTooLong,
        StreamError::EventTooLarge,
        StreamError::IdleTimeout,
        StreamError::RedirectRefused,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            StreamError::LineTooLong => "line_too_long",
            StreamError::EventTooLarge => "event_too_large",
            StreamError::IdleTimeout => "idle_timeout",
            StreamError::RedirectRefused => "redirect_refused",
        }
    }
}

/// Counters of one route.
#[derive(Debug, Default)]
pub struct RouteStats {
    /// The route's handler name.
    pub route: String,
    /// Backend name.
    pub backend: &'static str,
    queues: Mutex<BTreeMap<String, Arc<QueueOutcomes>>>,
    /// Batches flushed because full.
    pub flush_size: AtomicU64,
    /// Batches flushed at their deadline.
    pub flush_deadline: AtomicU64,
    /// Batches flushed at shutdown.
    pub flush_shutdown: AtomicU64,
    /// Handler calls (batches or runs) that returned an error.
    pub errors: AtomicU64,
    /// Handler calls that panicked.
    pub panics: AtomicU64,
    /// Handler calls cancelled at the route's `timeout`.
    pub timeouts: AtomicU64,
    /// Failed batches that were bisected (`bisect = true`).
    pub bisected: AtomicU64,
    /// Handler calls spent on bisection (every call after a batch's first).
    pub bisect_calls: AtomicU64,
    /// Handler calls that finished.
    pub runs: AtomicU64,
    /// Recurring-task ticks and cron slots skipped because the task was busy.
    pub skipped: AtomicU64,
    /// Cron slots that did not run, by [`SkipReason`].
    slots_skipped: [AtomicU64; 3],
    /// SSE connections dropped, by [`StreamError`].
    stream_errors: [AtomicU64; 4],
    /// Sum of handler durations, in microseconds.
    pub handler_micros: AtomicU64,
    /// Distribution of handler durations (recorded with `handler_micros`).
    pub handler_duration: DurationHistogram,
    /// How late after its flush deadline each batch flushed at its deadline
    /// was handed to the handler (waiting for a `max_concurrency` slot
    /// included).
    pub flush_delay: DelayHistogram,
    /// The consumer's effective prefetch window (amqp routes; 0 otherwise).
    pub prefetch: AtomicU64,
    /// Batches (or runs) in flight now.
    pub in_flight: AtomicU64,
    /// Messages received but not yet handed to a handler.
    pub buffered: AtomicU64,
    /// Whether the route's consumer is registered and its connection up.
    pub ready: AtomicBool,
    /// Whether the route's consumer stands by: registered on a
    /// single-active-consumer queue while another consumer is active
    /// (ready all the same).
    pub standby: AtomicBool,
    /// Consumer (re)connections after a failure.
    pub reconnects: AtomicU64,
    /// Consumers the broker cancelled (`basic.cancel`: the queue was
    /// deleted, its leader moved, or a consumer timeout); each resubscribes.
    pub cancelled: AtomicU64,
    recent_failures: Mutex<VecDeque<(String, u64)>>,
}

/// How many failures of a route [`RouteStats::recent_failures`] keeps.
pub(crate) const RECENT_FAILURES: usize = 5;

impl RouteStats {
    /// The outcome counters of `queue` (created on first use).
    pub fn queue(&self, queue: &str) -> Arc<QueueOutcomes> {
        let mut map = self.queues.lock().expect("stats lock poisoned");
        map.entry(queue.to_owned()).or_default().clone()
    }

    /// Snapshot of every queue's outcomes.
    pub fn queues(&self) -> BTreeMap<String, OutcomeCounts> {
        let map = self.queues.lock().expect("stats lock poisoned");
        map.iter().map(|(k, v)| (k.clone(), v.snapshot())).collect()
    }

    /// Counts a cron slot that did not run.
    pub fn skip_slot(&self, reason: SkipReason) {
        self.slots_skipped[reason.index()].fetch_add(1, Ordering::Relaxed);
        if reason == SkipReason::Busy {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Cron slots that did not run for `reason`.
    pub fn slots_skipped(&self, reason: SkipReason) -> u64 {
        self.slots_skipped[reason.index()].load(Ordering::Relaxed)
    }

    /// Counts an SSE connection dropped for `reason`.
    pub fn stream_error(&self, reason: StreamError) {
        self.stream_errors[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// SSE connections dropped for `reason`.
    pub fn stream_errors(&self, reason: StreamError) -> u64 {
        self.stream_errors[reason as usize].load(Ordering::Relaxed)
    }

    /// Whether the route is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Whether the route's consumer stands by (single active consumer).
    pub fn is_standby(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
    }

    /// Notes a failed handler call (`error: ...`, `panic: ...`,
    /// `timeout: ...`), keeping the last `RECENT_FAILURES` distinct ones
    /// (a failure equal to the previous one is counted with it).
    pub fn record_failure(&self, failure: String) {
        let mut recent = self.recent_failures.lock().expect("stats lock poisoned");
        if let Some((last, count)) = recent.back_mut() {
            if *last == failure {
                *count += 1;
                return;
            }
        }
        if recent.len() == RECENT_FAILURES {
            recent.pop_front();
        }
        recent.push_back((failure, 1));
    }

    /// The last failed handler calls, oldest first, a repeated one once
    /// with its count (`error: ... (3 times)`): what the testing harness
    /// shows when a test fails.
    pub fn recent_failures(&self) -> Vec<String> {
        let recent = self.recent_failures.lock().expect("stats lock poisoned");
        recent
            .iter()
            .map(|(failure, count)| match count {
                1 => failure.clone(),
                n => format!("{failure} ({n} times)"),
            })
            .collect()
    }
}

/// The counters of every route of one running application.
#[derive(Debug, Default)]
pub struct StatsRegistry {
    routes: Mutex<BTreeMap<String, Arc<RouteStats>>>,
}

impl StatsRegistry {
    /// Creates (or returns) the stats of a route.
    pub fn route(&self, route: &str, backend: &'static str) -> Arc<RouteStats> {
        let mut map = self.routes.lock().expect("stats lock poisoned");
        map.entry(route.to_owned())
            .or_insert_with(|| {
                Arc::new(RouteStats {
                    route: route.to_owned(),
                    backend,
                    ..Default::default()
                })
            })
            .clone()
    }

    /// All routes' stats.
    pub fn all(&self) -> Vec<Arc<RouteStats>> {
        self.routes
            .lock()
            .expect("stats lock poisoned")
            .values()
            .cloned()
            .collect()
    }
}
