//! Bisection (`bisect = true`): when a handler run of more than one item
//! fails without naming an action for its items, the items it left
//! undecided are split in halves and each half is run again, recursively,
//! down to single items. Items of runs that succeed are settled as
//! succeeded; only single items that still fail are settled as failed.
//! Per-item decisions made in any run are kept, and such items take no
//! further part. An error that names its action ([`Error::reject`],
//! [`Error::requeue`], [`Error::ack`]) is an explicit outcome for the whole
//! run: it is not bisected.
//!
//! With one failing item among `n`, this costs at most
//! `2 * ceil(log2(n)) + 1` runs; with `k`, about `k * 2 * log2(n / k)`.
//! Handlers must be idempotent: an item takes part in several runs.
//!
//! [`Error::reject`]: crate::Error::reject
//! [`Error::requeue`]: crate::Error::requeue
//! [`Error::ack`]: crate::Error::ack

use std::future::Future;

use crate::call::Failure;
use crate::settlement::{Outcome, Resolution, Verdict};

/// What one run of a sub-batch reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// `Err` when the handler failed.
    pub result: Result<(), Failure>,
    /// The verdict of each item of the run, in its order.
    pub verdicts: Vec<Verdict>,
}

/// The resolution of every item, and the runs it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Per item, in the batch's order.
    pub resolutions: Vec<Resolution>,
    /// Handler runs, the first included.
    pub runs: u32,
    /// Whether the batch was split at least once.
    pub bisected: bool,
}

/// Runs `run` on all `n` items, then, with `bisect`, on halves of the
/// undecided items of each failed run that did not name an action.
/// `run(indices)` runs the handler on those items (indices into the batch,
/// `0..n` for the first run).
pub async fn resolve<F, Fut>(n: usize, bisect: bool, mut run: F) -> Resolved
where
    F: FnMut(&[usize]) -> Fut,
    Fut: Future<Output = Run>,
{
    let all: Vec<usize> = (0..n).collect();
    let first = run(&all).await;
    let outcome = outcome(&first.result);
    let undecided = first
        .verdicts
        .iter()
        .filter(|v| **v == Verdict::Undecided)
        .count();
    if !splits(&first.result, bisect, undecided) {
        // The common case, one run: every item resolved by it.
        return Resolved {
            resolutions: first.verdicts.iter().map(|v| (*v, outcome)).collect(),
            runs: 1,
            bisected: false,
        };
    }
    let mut resolutions = vec![(Verdict::Undecided, Outcome::Succeeded); n];
    // Depth first, left half first: the stack holds what is still to run.
    let mut pending = vec![all];
    let mut reports = vec![first];
    let mut runs = 1;
    while let Some(items) = pending.pop() {
        let report = match reports.pop() {
            Some(report) => report,
            None => {
                runs += 1;
                run(&items).await
            }
        };
        let outcome = self::outcome(&report.result);
        let mut undecided = Vec::new();
        for (&i, verdict) in items.iter().zip(&report.verdicts) {
            match verdict {
                Verdict::Undecided => undecided.push(i),
                decided => resolutions[i] = (*decided, outcome),
            }
        }
        if splits(&report.result, bisect, undecided.len()) {
            let right = undecided.split_off(undecided.len() / 2);
            pending.push(right);
            pending.push(undecided);
        } else {
            for i in undecided {
                resolutions[i] = (Verdict::Undecided, outcome);
            }
        }
    }
    Resolved {
        resolutions,
        runs,
        bisected: true,
    }
}

fn outcome(result: &Result<(), Failure>) -> Outcome {
    match result {
        Ok(()) => Outcome::Succeeded,
        Err(f) => Outcome::Failed(f.action()),
    }
}

/// Whether a run is split in halves: it failed without naming an action,
/// bisection is on, and more than one of its items is undecided.
fn splits(result: &Result<(), Failure>, bisect: bool, undecided: usize) -> bool {
    matches!(result, Err(f) if f.action().is_none()) && bisect && undecided > 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settlement::Action;
    use std::collections::BTreeSet;

    /// A handler that fails any run containing a poison item.
    async fn resolve_with(n: usize, poison: &BTreeSet<usize>, bisect: bool) -> Resolved {
        resolve(n, bisect, |items| {
            let failed = items.iter().any(|i| poison.contains(i));
            let verdicts = vec![Verdict::Undecided; items.len()];
            async move {
                Run {
                    result: if failed {
                        Err(Failure::Error(None))
                    } else {
                        Ok(())
                    },
                    verdicts,
                }
            }
        })
        .await
    }

    fn failed(r: &Resolved) -> BTreeSet<usize> {
        r.resolutions
            .iter()
            .enumerate()
            .filter(|(_, res)| res.1 != Outcome::Succeeded)
            .map(|(i, _)| i)
            .collect()
    }

    #[tokio::test]
    async fn one_poison_item_in_500_takes_at_most_19_runs() {
        for p in [0, 1, 249, 250, 498, 499] {
            let poison = BTreeSet::from([p]);
            let r = resolve_with(500, &poison, true).await;
            assert_eq!(failed(&r), poison, "poison {p}");
            assert!(r.runs <= 19, "poison {p}: {} runs", r.runs);
            assert!(r.bisected);
        }
    }

    #[tokio::test]
    async fn several_poison_items_are_isolated_and_counted() {
        let poison: BTreeSet<usize> = [3, 17, 200, 499].into();
        let r = resolve_with(500, &poison, true).await;
        assert_eq!(failed(&r), poison);
        // About k * 2 * log2(n / k) = 4 * 2 * 7 = 56.
        assert!(r.runs <= 4 * 2 * 9 + 1, "{} runs", r.runs);
    }

    #[tokio::test]
    async fn without_bisect_or_poison_one_run_settles_all() {
        let r = resolve_with(10, &BTreeSet::from([4]), false).await;
        assert_eq!((r.runs, r.bisected), (1, false));
        assert_eq!(failed(&r).len(), 10);
        let r = resolve_with(10, &BTreeSet::new(), true).await;
        assert_eq!((r.runs, failed(&r).len()), (1, 0));
    }

    #[tokio::test]
    async fn decisions_are_kept_and_named_actions_are_not_bisected() {
        // First run: item 0 rejected by the handler, the run fails; the
        // other three are bisected, item 3 fails with a named action.
        let r = resolve(4, true, |items| {
            let items = items.to_vec();
            async move {
                let verdicts = items
                    .iter()
                    .map(|&i| {
                        if i == 0 {
                            Verdict::Decided(Action::Reject)
                        } else {
                            Verdict::Undecided
                        }
                    })
                    .collect();
                let result = if items.contains(&0) {
                    Err(Failure::Panic)
                } else if items.contains(&3) {
                    Err(Failure::Error(Some(Action::Ack)))
                } else {
                    Ok(())
                };
                Run { result, verdicts }
            }
        })
        .await;
        // Run 1: [0,1,2,3] panics; item 0 decided; [1,2,3] split into [1],
        // [2,3]; [1] succeeds; [2,3] fails with a named action: not split.
        assert_eq!(r.runs, 3);
        assert_eq!(
            r.resolutions,
            [
                (Verdict::Decided(Action::Reject), Outcome::Failed(None)),
                (Verdict::Undecided, Outcome::Succeeded),
                (Verdict::Undecided, Outcome::Failed(Some(Action::Ack))),
                (Verdict::Undecided, Outcome::Failed(Some(Action::Ack))),
            ]
        );
    }
}
