//! Bisection (`bisect = true`): when a handler run of more than one item
//! fails, the items it left undecided are split in halves and each half is
//! run again, recursively, down to single items. Items of runs that
//! succeed are settled as succeeded; only single items that still fail are
//! settled as failed. Per-item decisions made in any run are kept, and such
//! items take no further part. An error that names its action
//! ([`Error::reject`], [`Error::requeue`], [`Error::ack`]) is bisected like
//! any other: the action applies to the items its runs isolate (a run of
//! one item, or of items that are all decided but one).
//!
//! With one failing item among `n`, this costs at most
//! `2 * ceil(log2(n)) + 1` runs; with `k`, about `k * 2 * log2(n / k)`.
//! Handlers must be idempotent: an item takes part in several runs.
//!
//! [`Error::reject`]: crate::Error::reject
//! [`Error::requeue`]: crate::Error::requeue
//! [`Error::ack`]: crate::Error::ack

use std::future::Future;
use std::sync::Arc;

use super::BatchShared;
use crate::call::Failure;
use crate::settlement::{Outcome, Resolution, Verdict};

/// What one run of a sub-batch reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// `Err` when the handler failed.
    pub result: Result<(), Failure>,
    /// The verdict of each item of the run, in its order.
    pub verdicts: Verdicts,
}

/// The verdicts of the items of one run, in its order.
#[derive(Clone)]
pub struct Verdicts(VerdictsRepr);

#[derive(Clone)]
enum VerdictsRepr {
    Listed(Vec<Verdict>),
    /// `n` items, none decided.
    Undecided(usize),
    /// Read from a sealed batch's own decisions (no copy).
    Batch(Arc<BatchShared>),
}

impl Verdicts {
    /// `n` items, none of them decided.
    pub fn undecided(n: usize) -> Self {
        Verdicts(VerdictsRepr::Undecided(n))
    }

    /// The decisions of a sealed batch.
    pub(crate) fn of_batch(shared: Arc<BatchShared>) -> Self {
        Verdicts(VerdictsRepr::Batch(shared))
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        match &self.0 {
            VerdictsRepr::Listed(v) => v.len(),
            VerdictsRepr::Undecided(n) => *n,
            VerdictsRepr::Batch(b) => b.deliveries.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The verdict of item `i` of the run.
    pub fn get(&self, i: usize) -> Verdict {
        match &self.0 {
            VerdictsRepr::Listed(v) => v[i],
            VerdictsRepr::Undecided(n) => {
                assert!(i < *n, "verdict {i} of {n}");
                Verdict::Undecided
            }
            VerdictsRepr::Batch(b) => b.verdict(i),
        }
    }

    /// Every verdict, in order.
    pub fn iter(&self) -> impl Iterator<Item = Verdict> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

impl From<Vec<Verdict>> for Verdicts {
    fn from(v: Vec<Verdict>) -> Self {
        Verdicts(VerdictsRepr::Listed(v))
    }
}

impl std::fmt::Debug for Verdicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Verdicts {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Verdicts {}

/// The resolution of every item, and the runs it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    resolutions: Resolutions,
    /// Handler runs, the first included.
    pub runs: u32,
    /// Whether the batch was split at least once.
    pub bisected: bool,
}

/// Per item, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resolutions {
    /// One run resolved every item: its verdicts, and how it ended.
    OneRun(Verdicts, Outcome),
    /// Bisected: each item's own.
    Each(Vec<Resolution>),
}

impl Resolved {
    /// The resolution of item `i`.
    pub fn resolution(&self, i: usize) -> Resolution {
        match &self.resolutions {
            Resolutions::OneRun(verdicts, outcome) => (verdicts.get(i), *outcome),
            Resolutions::Each(each) => each[i],
        }
    }

    /// Every item's resolution, in order.
    pub fn resolutions(&self) -> impl Iterator<Item = Resolution> + '_ {
        let n = match &self.resolutions {
            Resolutions::OneRun(verdicts, _) => verdicts.len(),
            Resolutions::Each(each) => each.len(),
        };
        (0..n).map(|i| self.resolution(i))
    }
}

/// `0..INDICES.len()`, so that the first run of a batch (all its items)
/// needs no list of its own.
static INDICES: [usize; 1024] = {
    let mut all = [0; 1024];
    let mut i = 0;
    while i < all.len() {
        all[i] = i;
        i += 1;
    }
    all
};

/// Runs `run` on all `n` items, then, with `bisect`, on halves of the
/// undecided items of each failed run.
/// `run(indices)` runs the handler on those items (indices into the batch,
/// `0..n` for the first run).
pub async fn resolve<F, Fut>(n: usize, bisect: bool, mut run: F) -> Resolved
where
    F: FnMut(&[usize]) -> Fut,
    Fut: Future<Output = Run>,
{
    let owned: Vec<usize>;
    let all: &[usize] = if n <= INDICES.len() {
        &INDICES[..n]
    } else {
        owned = (0..n).collect();
        &owned
    };
    let first = run(all).await;
    let outcome = outcome(&first.result);
    let undecided = first
        .verdicts
        .iter()
        .filter(|v| *v == Verdict::Undecided)
        .count();
    if !splits(&first.result, bisect, undecided) {
        // The common case, one run: every item resolved by it.
        return Resolved {
            resolutions: Resolutions::OneRun(first.verdicts, outcome),
            runs: 1,
            bisected: false,
        };
    }
    let mut resolutions = vec![(Verdict::Undecided, Outcome::Succeeded); n];
    // Depth first, left half first: the stack holds what is still to run.
    let mut pending = vec![all.to_vec()];
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
        for (&i, verdict) in items.iter().zip(report.verdicts.iter()) {
            match verdict {
                Verdict::Undecided => undecided.push(i),
                decided => resolutions[i] = (decided, outcome),
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
        resolutions: Resolutions::Each(resolutions),
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

/// Whether a run is split in halves: it failed (whatever action its error
/// names), bisection is on, and more than one of its items is undecided.
pub(crate) fn splits(result: &Result<(), Failure>, bisect: bool, undecided: usize) -> bool {
    result.is_err() && bisect && undecided > 1
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
            let verdicts = Verdicts::undecided(items.len());
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
        r.resolutions()
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
    async fn decisions_are_kept_and_named_actions_apply_to_the_isolated_items() {
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
                    .collect::<Vec<_>>()
                    .into();
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
        // [2,3]; [1] succeeds; [2,3] fails with a named action: split
        // too, [2] succeeds and [3] gets the action.
        assert_eq!(r.runs, 5);
        assert_eq!(
            r.resolutions().collect::<Vec<_>>(),
            [
                (Verdict::Decided(Action::Reject), Outcome::Failed(None)),
                (Verdict::Undecided, Outcome::Succeeded),
                (Verdict::Undecided, Outcome::Succeeded),
                (Verdict::Undecided, Outcome::Failed(Some(Action::Ack))),
            ]
        );
    }

    #[tokio::test]
    async fn a_typed_error_without_bisect_settles_the_whole_run() {
        let r = resolve(5, false, |items| {
            let verdicts = Verdicts::undecided(items.len());
            async move {
                Run {
                    result: Err(Failure::Error(Some(Action::Reject))),
                    verdicts,
                }
            }
        })
        .await;
        assert_eq!((r.runs, r.bisected), (1, false));
        assert!(r
            .resolutions()
            .all(|res| res == (Verdict::Undecided, Outcome::Failed(Some(Action::Reject)))));
    }
}
