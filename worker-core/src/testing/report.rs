//! What a test reads of a queue ([`QueueReport`]), and the text of a
//! `wait_idle` that timed out.

use std::fmt;
use std::time::Duration;

use crate::metrics::OutcomeCounts;

/// Outcomes of one queue: what the runtime decided (summed over the routes
/// consuming it), what the broker holds, and the last handler failures of
/// those routes. The outcome counts read as fields of the report
/// (`report.acked`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueReport {
    /// Messages settled, by final action.
    pub settled: OutcomeCounts,
    /// Messages waiting in the queue.
    pub ready: u64,
    /// Messages delivered and not yet settled.
    pub unacked: u64,
    /// The last failed handler calls of the routes consuming the queue
    /// (`error: ...`, `panic: ...`, `timeout: ...`), oldest first.
    pub errors: Vec<String>,
}

impl std::ops::Deref for QueueReport {
    type Target = OutcomeCounts;

    fn deref(&self) -> &OutcomeCounts {
        &self.settled
    }
}

impl fmt::Display for QueueReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settled;
        write!(
            f,
            "ready {}, unacked {}; acked {}, requeued {}, rejected {}, dead-lettered {}, retried {}",
            self.ready, self.unacked, s.acked, s.requeued, s.rejected, s.dead_lettered, s.retried
        )
    }
}

/// The failure text of `wait_idle`: each queue's report, and each route's
/// last handler failures (or that there were none).
pub(super) fn not_idle(
    limit: Duration,
    queues: &[(&str, QueueReport)],
    routes: &[(&str, Vec<String>)],
) -> String {
    let mut out = format!("not idle after {limit:?}:\n");
    for (queue, report) in queues {
        out.push_str(&format!("  queue `{queue}`: {report}\n"));
    }
    for (route, failures) in routes {
        if failures.is_empty() {
            out.push_str(&format!("  route `{route}`: no handler failures\n"));
        } else {
            out.push_str(&format!("  route `{route}`: last handler failures:\n"));
            for failure in failures {
                out.push_str(&format!("    {failure}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_text_shows_the_counts_and_the_errors() {
        let report = QueueReport {
            settled: OutcomeCounts {
                requeued: 18,
                rejected: 1,
                ..Default::default()
            },
            unacked: 2,
            ..Default::default()
        };
        let text = not_idle(
            Duration::from_secs(10),
            &[("orders", report)],
            &[
                (
                    "orders",
                    vec!["error: no queue named `order_events`".to_owned()],
                ),
                ("report", Vec::new()),
            ],
        );
        assert_eq!(
            text,
            "not idle after 10s:\n  queue `orders`: ready 0, unacked 2; acked 0, requeued 18, rejected 1, dead-lettered 0, retried 0\n  route `orders`: last handler failures:\n    error: no queue named `order_events`\n  route `report`: no handler failures\n"
        );
    }
}
