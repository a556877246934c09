//! Request counts and durations per route template, method and status.
//!
//! Each served path gets its [`PathStats`] when the router is built, and the
//! path's middleware holds it: recording a request is one short lock for the
//! `(method, status)` counter and one atomic histogram update, with no
//! label lookup on the request path.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use worker_core::metrics::{DurationHistogram, HistogramSnapshot};

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

/// The counters of one route template.
#[derive(Debug)]
pub struct PathStats {
    route: String,
    counts: Mutex<BTreeMap<(u8, u16), u64>>,
    durations: [DurationHistogram; METHODS.len()],
}

impl PathStats {
    fn new(route: &str) -> Self {
        PathStats {
            route: route.to_owned(),
            counts: Mutex::new(BTreeMap::new()),
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
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((m as u8, status.as_u16()))
            .or_insert(0) += 1;
        self.durations[m].observe(elapsed);
    }

    /// `(method, status, count)` of every combination seen.
    pub fn counts(&self) -> Vec<(&'static str, u16, u64)> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(&(m, s), &n)| (METHODS[m as usize], s, n))
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
