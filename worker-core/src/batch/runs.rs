//! One dispatched batch of an `amqp` route: its handler runs (the first,
//! then, with `bisect`, the runs of its halves, see [`bisect`](super::bisect)),
//! each bounded by the route's `timeout`, and what settles each message.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::bisect::{self, Resolved, Run};
use super::{Batch, BatchHandlerFn, BatchShared, FlushReason};
use crate::app::App;
use crate::call::{log_isolated, run_logged, Failed, Logged};
use crate::metrics::RouteStats;
use crate::settlement::{Outcome, Verdict};

/// How the handler of a route is called.
#[derive(Clone)]
pub(super) struct Calls {
    pub route: &'static str,
    pub handler: BatchHandlerFn,
    pub app: App,
    pub stats: Arc<RouteStats>,
    pub timeout: Option<Duration>,
    pub bisect: bool,
}

impl Calls {
    /// Runs the handler on `first` (the dispatched batch) and, where its
    /// runs fail, on halves of it; the resolution of every message.
    pub(super) async fn resolve(&self, first: Batch, reason: FlushReason) -> Resolved {
        let shared = first.shared.clone();
        let n = shared.deliveries.len();
        let mut first = Some(first);
        let mut run_number = 0u32;
        let resolved = bisect::resolve(n, self.bisect, |items| {
            run_number += 1;
            // The first run is the dispatched batch itself; later runs get
            // a batch of their own (fresh decisions) of the items' copies.
            let batch = match first.take() {
                Some(batch) => batch,
                None => Batch::leased(
                    self.route,
                    items
                        .iter()
                        .map(|&i| shared.deliveries[i].clone())
                        .collect(),
                    shared.lease.clone(),
                ),
            };
            self.run(batch, reason, run_number)
        })
        .await;
        if resolved.bisected {
            let isolated = resolved
                .resolutions()
                .filter(|(verdict, outcome)| {
                    *verdict == Verdict::Undecided && matches!(outcome, Outcome::Failed(_))
                })
                .count();
            tracing::info!(
                route = self.route,
                size = n,
                runs = resolved.runs,
                isolated,
                "bisected a failed batch"
            );
            self.stats.bisected.fetch_add(1, Ordering::Relaxed);
            self.stats
                .bisect_calls
                .fetch_add(u64::from(resolved.runs - 1), Ordering::Relaxed);
        }
        resolved
    }

    /// One handler run; the batch is sealed after it (later decisions are
    /// ignored), and its verdicts are read. With `bisect`, a failure is
    /// logged at `debug`, and once per message it isolates.
    async fn run(&self, batch: Batch, reason: FlushReason, run: u32) -> Run {
        let shared: Arc<BatchShared> = batch.shared.clone();
        let span = tracing::info_span!(
            "batch",
            route = self.route,
            size = batch.len(),
            reason = reason.name(),
            run,
            outcome = tracing::field::Empty
        );
        // A batch of one is not bisected: its failure is its outcome.
        let bisecting = self.bisect && (run > 1 || batch.len() > 1);
        let call = (self.handler)(batch, self.app.clone());
        let logged = if bisecting {
            Logged::Bisecting
        } else {
            Logged::Outcome
        };
        let result = run_logged(&self.stats, span, self.timeout, call, logged).await;
        shared.seal();
        if let (Err(failed), true) = (&result, bisecting) {
            self.log_isolated(&shared, failed);
        }
        Run {
            result: result.map_err(|f| f.failure),
            verdicts: bisect::Verdicts::of_batch(shared),
        }
    }

    /// With `bisect`, the message a failed run leaves for its outcome (the
    /// run is not split further), logged once with its id.
    fn log_isolated(&self, shared: &BatchShared, failed: &Failed) {
        let undecided: Vec<usize> = (0..shared.deliveries.len())
            .filter(|&i| shared.verdict(i) == Verdict::Undecided)
            .collect();
        if bisect::splits(&Err(failed.failure), true, undecided.len()) {
            return;
        }
        for i in undecided {
            let d = &shared.deliveries[i];
            let id = d.properties.message_id.as_deref();
            log_isolated(self.route, id, Some(d.tag), failed);
        }
    }
}
