//! Message expiry: one tokio task per queue that holds messages with a
//! deadline (per-queue TTL or per-message `expiration`). It sleeps until the
//! head's deadline (`sleep_until`, so it follows tokio's paused clock), then
//! has the engine expire the head and dispatch ([`Expire`]), without any
//! other broker activity.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::time::{sleep_until, Instant};

use super::queue::{ExpiryTimer, Queue};

/// What the expiry task of a queue asks the engine to do.
pub(super) trait Expire: Send + Sync + 'static {
    /// Expires the due messages at the head of `queue` (if it is still the
    /// queue `id`), dispatches, and says when to look again.
    fn expire(&self, queue: &str, id: u64) -> Next;
}

/// When the expiry task of a queue looks again.
pub(super) enum Next {
    /// The queue is gone: the task ends.
    Gone,
    /// No message has a deadline: wait to be woken.
    Idle,
    /// At the head's deadline.
    At(Instant),
}

/// Starts the queue's expiry task if none runs (and a tokio runtime is
/// available), else wakes it when the head changed.
pub(super) fn ensure_timer(queue: &Queue, engine: &Weak<dyn Expire>, head_changed: bool) {
    let timer = &queue.timer;
    if !timer.alive.swap(true, Ordering::AcqRel) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let guard = AliveGuard(timer.clone());
                runtime.spawn(run(engine.clone(), queue.name.clone(), queue.id, guard));
            }
            // No runtime: expiry happens lazily on the next operation that
            // dispatches this queue.
            Err(_) => timer.alive.store(false, Ordering::Release),
        }
    } else if head_changed {
        timer.notify.notify_one();
    }
}

/// Marks the timer dead when the task ends or is dropped unstarted (its
/// runtime shut down), so the next message starts a new one. Touches only an
/// atomic: it may run while the broker lock is held.
struct AliveGuard(Arc<ExpiryTimer>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

async fn run(engine: Weak<dyn Expire>, queue: Arc<str>, id: u64, guard: AliveGuard) {
    loop {
        let next = match engine.upgrade() {
            Some(engine) => engine.expire(&queue, id),
            None => return,
        };
        let notify = &guard.0.notify;
        match next {
            Next::Gone => return,
            Next::At(deadline) => {
                tokio::select! {
                    _ = sleep_until(deadline) => {}
                    _ = notify.notified() => {}
                }
            }
            Next::Idle => notify.notified().await,
        }
    }
}
