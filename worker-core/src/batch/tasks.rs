//! [`BatchTasks`]: where the batches of one consumer run.
//!
//! With `max_concurrency = 1` (the default) one batch runs at a time, so
//! nothing is gained by a task per batch: the batch's future is polled by
//! the consumer's own task, beside the delivery stream. That saves a spawn
//! and a hand-off between tasks per batch: about 8% of the CPU per message
//! at bulk 1 (`scripts/bench-amqp --bulks 1 --profile worker`, interleaved
//! runs). With more than one batch at a
//! time, each batch is a task of its own, so that batches also run in
//! parallel on the runtime's threads.
//!
//! Either way the consumer must keep polling the set while it waits for
//! something a batch may be holding (a batch slot, the settler's lock):
//! [`BatchTasks::drive`] does that.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::task::JoinSet;

use crate::future::BoxFuture;

/// The batches in flight of one consumer's channel.
pub(super) enum BatchTasks {
    /// Polled by the consumer's task (`max_concurrency = 1`).
    Local(Local),
    /// One runtime task per batch.
    Spawned(JoinSet<()>),
}

/// The batches polled by the consumer's task: one at a time in practice
/// (the batch slot is released as its future ends), polled directly;
/// any further batch waits in a set of its own.
#[derive(Default)]
pub(super) struct Local {
    one: Option<BoxFuture<'static, ()>>,
    more: FuturesUnordered<BoxFuture<'static, ()>>,
}

impl Local {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        if let Some(batch) = &mut self.one {
            if batch.as_mut().poll(cx).is_ready() {
                self.one = None;
                return Poll::Ready(Some(()));
            }
        }
        match self.more.poll_next_unpin(cx) {
            Poll::Ready(None) if self.one.is_some() => Poll::Pending,
            other => other,
        }
    }

    fn len(&self) -> usize {
        usize::from(self.one.is_some()) + self.more.len()
    }
}

impl BatchTasks {
    pub(super) fn new(max_concurrency: usize) -> Self {
        if max_concurrency <= 1 {
            BatchTasks::Local(Local::default())
        } else {
            BatchTasks::Spawned(JoinSet::new())
        }
    }

    /// Starts running `batch`.
    pub(super) fn spawn(&mut self, batch: impl Future<Output = ()> + Send + 'static) {
        match self {
            BatchTasks::Local(local) => {
                let batch: BoxFuture<'static, ()> = Box::pin(async {
                    // As a task's would be: a panic ends the batch, not the
                    // consumer polling it. (Handler panics are caught
                    // earlier, with the batch's messages settled as failed.)
                    if AssertUnwindSafe(batch).catch_unwind().await.is_err() {
                        tracing::error!("a batch panicked after its handler; the broker redelivers its messages when the channel closes");
                    }
                });
                if local.one.is_none() {
                    local.one = Some(batch);
                } else {
                    local.more.push(batch);
                }
            }
            BatchTasks::Spawned(set) => {
                set.spawn(batch);
            }
        }
    }

    /// Waits until a batch ends; `None` when none is running. Cancel-safe.
    pub(super) async fn join_next(&mut self) -> Option<()> {
        match self {
            BatchTasks::Local(local) => std::future::poll_fn(|cx| local.poll_next(cx)).await,
            BatchTasks::Spawned(set) => set.join_next().await.map(|_| ()),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn len(&self) -> usize {
        match self {
            BatchTasks::Local(local) => local.len(),
            BatchTasks::Spawned(set) => set.len(),
        }
    }

    /// Awaits `fut` while the batches keep running.
    pub(super) async fn drive<F: Future>(&mut self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return out,
                Some(()) = self.join_next(), if !self.is_empty() => {}
            }
        }
    }

    /// Cancels every batch (they are dropped where they are).
    pub(super) fn abort_all(&mut self) {
        match self {
            BatchTasks::Local(local) => {
                local.one = None;
                local.more.clear();
            }
            BatchTasks::Spawned(set) => set.abort_all(),
        }
    }

    /// Lets every batch run to its end on its own, without waiting for it.
    pub(super) fn detach_all(&mut self) {
        match self {
            BatchTasks::Local(local) => {
                let Local { one, more } = std::mem::take(local);
                for batch in one.into_iter().chain(more) {
                    tokio::spawn(batch);
                }
            }
            BatchTasks::Spawned(set) => set.detach_all(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::sync::{Mutex, Semaphore};

    /// A batch holding a lock (as the settler's) while it waits, and the
    /// consumer waiting for that lock: `drive` keeps the batch running.
    #[tokio::test]
    async fn drive_polls_the_local_batches_it_waits_on() {
        let mut tasks = BatchTasks::new(1);
        assert!(matches!(tasks, BatchTasks::Local(_)));
        let lock = Arc::new(Mutex::new(0u32));
        let gate = Arc::new(Semaphore::new(0));
        let (l, g) = (lock.clone(), gate.clone());
        tasks.spawn(async move {
            let mut held = l.lock().await;
            let _permit = g.acquire().await.unwrap();
            *held += 1;
        });
        // Start the batch: it takes the lock, then waits on the gate.
        tokio::select! {
            biased;
            _ = tasks.join_next() => panic!("the batch cannot end before the gate opens"),
            _ = tokio::task::yield_now() => {}
        }
        assert!(lock.try_lock().is_err(), "the batch holds the lock");
        gate.add_permits(1);
        let value = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tasks.drive(async { *lock.lock().await }),
        )
        .await
        .expect("drive must poll the batch holding the lock");
        assert_eq!(value, 1);
        assert!(tasks.is_empty());
    }

    #[tokio::test]
    async fn detached_local_batches_run_to_their_end() {
        let mut tasks = BatchTasks::new(1);
        let (tx, rx) = tokio::sync::oneshot::channel();
        tasks.spawn(async move {
            tokio::task::yield_now().await;
            tx.send(7).unwrap();
        });
        tasks.detach_all();
        assert!(tasks.is_empty());
        assert_eq!(rx.await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_panicking_local_batch_ends_alone() {
        let mut tasks = BatchTasks::new(1);
        tasks.spawn(async { panic!("a bug after the handler") });
        tasks.spawn(async {});
        let mut ended = 0;
        while tasks.join_next().await.is_some() {
            ended += 1;
        }
        assert_eq!(ended, 2);
    }

    #[tokio::test]
    async fn more_than_one_at_a_time_spawns_tasks() {
        let mut tasks = BatchTasks::new(4);
        assert!(matches!(tasks, BatchTasks::Spawned(_)));
        for _ in 0..3 {
            tasks.spawn(async {});
        }
        assert_eq!(tasks.len(), 3);
        let mut ended = 0;
        while tasks.join_next().await.is_some() {
            ended += 1;
        }
        assert_eq!(ended, 3);
    }
}
