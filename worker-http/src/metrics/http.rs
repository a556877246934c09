//! Request counts and durations per route template, method and status.
//!
//! Each served path gets its [`PathStats`] when the router is built, and the
//! path's guard holds it: recording a request of a common status is one
//! atomic increment and one atomic histogram update, with no lock and no
//! label lookup on the request path (rare statuses go to a locked map).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use worker_core::backend::metrics::{DurationHistogram, HistogramSnapshot};

/// `route` label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Method labels; anything else is `OTHER` (bounded cardinality).
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// Statuses counted with a lock-free counter; others go to a locked map.
const COMMON_STATUSES: [u16; 16] = [
    200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503,
];

fn status_index(status: u16) -> Option<usize> {
    COMMON_STATUSES.iter().position(|&s| s == status)
}

/// The counters of one route template.
#[derive(Debug)]
pub struct PathStats {
    route: String,
    common: [[AtomicU64; COMMON_STATUSES.len()]; METHODS.len()],
    rare: Mutex<BTreeMap<(u8, u16), u64>>,
    durations: [DurationHistogram; METHODS.len()],
}

impl PathStats {
    fn new(route: &str) -> Self {
        PathStats {
            route: route.to_owned(),
            common: Default::default(),
            rare: Mutex::new(BTreeMap::new()),
            durations: Default::default(),
        }
    }

    /// The route template (`/items/{id}`) or `unmatched`.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// Counts one request.
    pub fn record(&self, method: &Method, status: StatusCode, elapsed: Duration) {
        let m = method_index(method);
        let code = status.as_u16();
        match status_index(code) {
            Some(s) => {
                self.common[m][s].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                *self
                    .rare
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry((m as u8, code))
                    .or_insert(0) += 1;
            }
        }
        self.durations[m].observe(elapsed);
    }

    /// `(method, status, count)` of every combination seen, sorted by
    /// method then status.
    pub fn counts(&self) -> Vec<(&'static str, u16, u64)> {
        let mut all: BTreeMap<(u8, u16), u64> =
            self.rare.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (m, row) in self.common.iter().enumerate() {
            for (s, n) in row.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    all.insert((m as u8, COMMON_STATUSES[s]), n);
                }
            }
        }
        all.into_iter()
            .map(|((m, s), n)| (METHODS[m as usize], s, n))
            .collect()
    }

    /// Duration histograms of the methods seen.
    pub fn durations(&self) -> Vec<(&'static str, HistogramSnapshot)> {
        self.durations
            .iter()
            .enumerate()
            .filter(|(_, h)| h.count() > 0)
            .map(|(i, h)| (METHODS[i], h.snapshot()))
            .collect()
    }
}

/// The [`PathStats`] of every route template of one server.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    paths: Mutex<BTreeMap<String, Arc<PathStats>>>,
    refusals: Arc<Refusals>,
}

/// What the server's limits turned away, by reason (the `reason` label of
/// `worker_http_refused_total`), and when a refusal was last logged.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: [AtomicU64; 4],
    last_logged: Mutex<Option<std::time::Instant>>,
}

impl Refusals {
    /// The reasons, in the order of [`Refusals::counts`].
    pub const REASONS: [&'static str; 4] = [
        "max_connections",
        "max_concurrency",
        "request_timeout",
        "body_timeout",
    ];

    /// Every reason with its count.
    pub fn counts(&self) -> [(&'static str, u64); 4] {
        std::array::from_fn(|i| (Self::REASONS[i], self.counts[i].load(Ordering::Relaxed)))
    }

    fn count(&self, reason: usize) -> bool {
        self.counts[reason].fetch_add(1, Ordering::Relaxed);
        let now = std::time::Instant::now();
        let mut last = self.last_logged.lock().unwrap_or_else(|e| e.into_inner());
        let log = last.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(10));
        if log {
            *last = Some(now);
        }
        log
    }

    /// Counts a connection over the cap; whether to log it (at most one
    /// line every 10 s for connection and concurrency refusals).
    pub(crate) fn refuse_connection(&self) -> bool {
        self.count(0)
    }

    /// Counts a request over the concurrency limit; whether to log it.
    pub(crate) fn refuse_request(&self) -> bool {
        self.count(1)
    }

    /// Counts a request not answered in time.
    pub(crate) fn request_timed_out(&self) {
        self.counts[2].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request body not received in time.
    pub(crate) fn body_timed_out(&self) {
        self.counts[3].fetch_add(1, Ordering::Relaxed);
    }
}

impl HttpMetrics {
    /// The stats of `route` (created on first use).
    pub fn path(&self, route: &str) -> Arc<PathStats> {
        self.paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(route.to_owned())
            .or_insert_with(|| Arc::new(PathStats::new(route)))
            .clone()
    }

    /// What the server's limits turned away.
    pub fn refusals(&self) -> Arc<Refusals> {
        self.refusals.clone()
    }

    /// The stats of requests that matched no route.
    pub fn unmatched(&self) -> Arc<PathStats> {
        self.path(UNMATCHED)
    }

    /// Every path's stats, sorted by route.
    pub fn all(&self) -> Vec<Arc<PathStats>> {
        self.paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_rare_statuses_are_counted_together() {
        let stats = PathStats::new("/items/{id}");
        let ms = Duration::from_millis(1);
        for _ in 0..3 {
            stats.record(&Method::GET, StatusCode::OK, ms);
        }
        stats.record(&Method::GET, StatusCode::IM_A_TEAPOT, ms);
        stats.record(&Method::POST, StatusCode::CREATED, ms);
        stats.record(&Method::from_bytes(b"PURGE").unwrap(), StatusCode::OK, ms);
        assert_eq!(
            stats.counts(),
            vec![
                ("GET", 200, 3),
                ("GET", 418, 1),
                ("POST", 201, 1),
                ("OTHER", 200, 1),
            ]
        );
        let durations = stats.durations();
        let methods: Vec<_> = durations.iter().map(|(m, _)| *m).collect();
        assert_eq!(methods, ["GET", "POST", "OTHER"]);
        assert_eq!(durations[0].1.count, 4);
    }
}
