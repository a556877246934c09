//! Capped exponential backoff with jitter, for reconnects and missing queues.

use std::time::Duration;

/// First delay before reconnecting a consumer (or retrying a missing queue,
/// or a broker that startup waits for).
pub const RECONNECT_BASE: Duration = Duration::from_millis(100);
/// Longest delay between reconnect attempts: after an outage of any length,
/// consumers are back within this long of the broker (2.5 to 5 s with
/// jitter), and a fleet of workers still spreads its attempts out.
pub const RECONNECT_CAP: Duration = Duration::from_secs(5);

/// Delays of successive attempts: `base * 2^n`, capped, each scaled by a
/// random factor in `[0.5, 1.0]` so that many workers do not retry in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    /// Starts at `base`, never exceeds `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            ^ (&base as *const Duration as u64);
        Backoff {
            base,
            cap,
            attempt: 0,
            seed: seed | 1,
        }
    }

    /// The number of delays handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Forgets past failures (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX));
        let ceiling = exp.min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64: enough for jitter, no dependency.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let factor = 0.5 + (self.seed % 1000) as f64 / 2000.0;
        ceiling.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_with_jitter_and_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut last_ceiling = Duration::ZERO;
        for n in 0..12u32 {
            let d = b.next_delay();
            let ceiling =
                (Duration::from_millis(100) * 2u32.pow(n.min(10))).min(Duration::from_secs(2));
            assert!(
                d <= ceiling && d >= ceiling / 2,
                "attempt {n}: {d:?} vs {ceiling:?}"
            );
            assert!(ceiling >= last_ceiling);
            last_ceiling = ceiling;
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
