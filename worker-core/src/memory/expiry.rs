//! Message expiry: one tokio task per queue that holds messages with a
//! deadline (per-queue TTL or per-message `expiration`). It sleeps until the
//! head's deadline (`sleep_until`, so it follows tokio's paused clock), then
//! expires the head and dispatches, without any other broker activity.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::time::sleep_until;

use super::state::{ExpiryTimer, Queue};
use super::Inner;

/// Starts the queue's expiry task if none runs (and a tokio runtime is
/// available), else wakes it when the head changed.
pub(super) fn ensure_timer(queue: &Queue, broker: &Weak<Inner>, head_changed: bool) {
    let timer = &queue.timer;
    if !timer.alive.swap(true, Ordering::AcqRel) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let guard = AliveGuard(timer.clone());
                runtime.spawn(run(broker.clone(), queue.name.clone(), queue.id, guard));
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

async fn run(broker: Weak<Inner>, queue: Arc<str>, id: u64, guard: AliveGuard) {
    loop {
        let next = {
            let Some(inner) = broker.upgrade() else {
                return;
            };
            let mut state = inner.lock();
            if state.queues.get(&queue).is_none_or(|q| q.id != id) {
                return;
            }
            state.expire_due(&queue);
            state.dispatch_dirty();
            match state.queues.get(&queue) {
                Some(q) if q.id == id => q.head_deadline(),
                _ => return,
            }
        };
        let notify = &guard.0.notify;
        match next {
            Some(deadline) => {
                tokio::select! {
                    _ = sleep_until(deadline) => {}
                    _ = notify.notified() => {}
                }
            }
            None => notify.notified().await,
        }
    }
}
