//! [`Batcher`]: collects items into batches of at most `bulk_size`, and
//! says when a partial batch's flush deadline has passed. The deadline is
//! measured from the batch's first item (a deadline, not a free-running
//! ticker), on tokio's clock, so it follows the paused clock in tests.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::metrics::RouteStats;

/// Why a batch was handed to its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushReason {
    /// It reached its size.
    Size,
    /// Its flush deadline passed.
    Deadline,
    /// The application is shutting down.
    Shutdown,
}

impl FlushReason {
    /// Lowercase label (`size`, `deadline`, `shutdown`).
    pub fn name(self) -> &'static str {
        match self {
            FlushReason::Size => "size",
            FlushReason::Deadline => "deadline",
            FlushReason::Shutdown => "shutdown",
        }
    }

    /// Counts a flush for this reason in the route's counters.
    pub fn count(self, stats: &RouteStats) {
        let counter = match self {
            FlushReason::Size => &stats.flush_size,
            FlushReason::Deadline => &stats.flush_deadline,
            FlushReason::Shutdown => &stats.flush_shutdown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A partial batch and its flush deadline. One timer serves every batch:
/// the first item of each partial batch re-arms it.
#[derive(Debug)]
pub struct Batcher<T> {
    pending: Vec<T>,
    bulk_size: usize,
    bulk_flush_interval: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
}

impl<T> Batcher<T> {
    /// Batches of at most `bulk_size` (at least 1), flushed `bulk_flush_interval`
    /// after their first item.
    pub fn new(bulk_size: usize, bulk_flush_interval: Duration) -> Self {
        let bulk_size = bulk_size.max(1);
        Batcher {
            pending: Vec::with_capacity(bulk_size),
            bulk_size,
            bulk_flush_interval,
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: false,
        }
    }

    /// Adds an item; `true` when the batch is now full. The first item of
    /// a partial batch arms the deadline (an item that fills the batch at
    /// once, as every item does at bulk size 1, needs none).
    pub fn push(&mut self, item: T) -> bool {
        self.pending.push(item);
        if self.pending.len() >= self.bulk_size {
            return true;
        }
        if self.pending.len() == 1 {
            self.timer
                .as_mut()
                .reset(Instant::now() + self.bulk_flush_interval);
            self.armed = true;
        }
        false
    }

    /// The flush deadline of the waiting partial batch, if one is armed.
    pub fn deadline_at(&self) -> Option<Instant> {
        self.armed.then(|| self.timer.deadline())
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The items waiting, oldest first.
    pub fn pending(&self) -> &[T] {
        &self.pending
    }

    /// Whether a partial batch's deadline has passed (a clock read; the
    /// timer is not polled). A consumer receiving a steady stream checks
    /// this after each item, so that its deadline is kept even when the
    /// stream never pauses for the timer to be polled.
    pub fn is_due(&self) -> bool {
        self.armed && Instant::now() >= self.timer.deadline()
    }

    /// Whether a partial batch waits for its deadline.
    pub fn is_armed(&self) -> bool {
        self.armed
    }

    /// Completes at the partial batch's flush deadline; never while no
    /// batch is waiting (guard `select!` branches with [`is_armed`]).
    ///
    /// [`is_armed`]: Batcher::is_armed
    pub async fn deadline(&mut self) {
        if !self.armed {
            std::future::pending::<()>().await;
        }
        self.timer.as_mut().await;
    }

    /// Takes the waiting items (and disarms the deadline).
    pub fn take(&mut self) -> Vec<T> {
        self.take_replacing(Vec::new())
    }

    /// As [`take`](Batcher::take), collecting the next batch into `spare`
    /// (emptied; a finished batch's buffer, so that its allocation is
    /// reused).
    pub fn take_replacing(&mut self, mut spare: Vec<T>) -> Vec<T> {
        self.armed = false;
        spare.clear();
        spare.reserve(self.bulk_size);
        std::mem::replace(&mut self.pending, spare)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn size_and_deadline() {
        let mut b = Batcher::new(3, Duration::from_secs(5));
        assert!(!b.is_armed());
        let t0 = Instant::now();
        assert!(!b.push(1));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!b.push(2));
        assert!(!b.is_due());
        // The deadline counts from the first item.
        b.deadline().await;
        assert!(b.is_due());
        assert_eq!(Instant::now() - t0, Duration::from_secs(5));
        assert_eq!(b.take(), [1, 2]);
        assert!(!b.is_armed() && b.is_empty());
        assert!(!b.push(3));
        assert!(!b.push(4));
        assert!(b.push(5), "full at bulk_size");
        assert_eq!(b.take(), [3, 4, 5]);
        let next = tokio::time::timeout(Duration::from_secs(60), b.deadline()).await;
        assert!(next.is_err(), "no deadline without a partial batch");
    }
}
