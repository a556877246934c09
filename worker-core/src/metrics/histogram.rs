//! Fixed-bucket, lock-free duration histograms, kept in
//! [`RouteStats`](super::RouteStats) and read by the metrics endpoint of
//! `worker-http` at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the duration buckets, Prometheus' defaults
/// extended to one minute (batch handlers can be slow).
pub(crate) const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Upper bounds (seconds) of the buckets of short delays (how late a batch
/// reached its handler after its flush deadline): 100 µs to 5 s.
pub(crate) const DELAY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

const fn nanos(bounds: &[f64; 14]) -> [u64; 14] {
    let mut out = [0u64; 14];
    let mut i = 0;
    while i < 14 {
        out[i] = (bounds[i] * 1e9) as u64;
        i += 1;
    }
    out
}

const DURATION_NANOS: [u64; 14] = nanos(&DURATION_BUCKETS);
const DELAY_NANOS: [u64; 14] = nanos(&DELAY_BUCKETS);

/// A histogram of durations over 14 fixed buckets (`DURATION_BUCKETS` by
/// default, `DELAY_BUCKETS` with [`DurationHistogram::delays`]): one
/// atomic add per observation, no lock.
#[derive(Debug)]
pub struct DurationHistogram {
    bounds: &'static [f64; 14],
    bounds_nanos: &'static [u64; 14],
    /// Non-cumulative counts; the last slot is `+Inf`.
    counts: [AtomicU64; 15],
    sum_nanos: AtomicU64,
}

impl Default for DurationHistogram {
    fn default() -> Self {
        Self::with_bounds(&DURATION_BUCKETS, &DURATION_NANOS)
    }
}

/// A consistent-enough reading of a [`DurationHistogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, cumulative count)`, ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of the observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl DurationHistogram {
    fn with_bounds(bounds: &'static [f64; 14], bounds_nanos: &'static [u64; 14]) -> Self {
        DurationHistogram {
            bounds,
            bounds_nanos,
            counts: Default::default(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// A histogram of short delays, over `DELAY_BUCKETS`.
    pub fn delays() -> Self {
        Self::with_bounds(&DELAY_BUCKETS, &DELAY_NANOS)
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let slot = self
            .bounds_nanos
            .iter()
            .position(|&b| nanos <= b)
            .unwrap_or(self.bounds_nanos.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Cumulative buckets, sum and count.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let bound = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            buckets,
            sum: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: cumulative,
        }
    }
}

/// A [`DurationHistogram`] over `DELAY_BUCKETS` (its `Default`).
#[derive(Debug)]
pub struct DelayHistogram(DurationHistogram);

impl Default for DelayHistogram {
    fn default() -> Self {
        DelayHistogram(DurationHistogram::delays())
    }
}

impl std::ops::Deref for DelayHistogram {
    type Target = DurationHistogram;

    fn deref(&self) -> &DurationHistogram {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_micros(500)); // <= 1ms
        h.observe(Duration::from_millis(1)); // bound is inclusive
        h.observe(Duration::from_millis(30)); // <= 50ms
        h.observe(Duration::from_secs(120)); // +Inf
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(h.count(), 4);
        assert_eq!(s.buckets.len(), DURATION_BUCKETS.len() + 1);
        assert_eq!(s.buckets[0], (0.001, 2));
        assert_eq!(s.buckets[4], (0.025, 2));
        assert_eq!(s.buckets[5], (0.05, 3));
        assert_eq!(s.buckets[13], (60.0, 3));
        assert_eq!(s.buckets[14].1, 4);
        assert!(s.buckets[14].0.is_infinite());
        assert!((s.sum - 120.0315).abs() < 1e-9, "{}", s.sum);
    }

    #[test]
    fn delays_have_sub_millisecond_buckets() {
        let h = DelayHistogram::default();
        h.observe(Duration::from_micros(80));
        h.observe(Duration::from_micros(1500));
        let s = h.snapshot();
        assert_eq!(s.buckets[0], (0.0001, 1));
        assert_eq!(s.buckets[4], (0.002, 2));
    }
}
