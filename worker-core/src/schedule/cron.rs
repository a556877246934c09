//! Cron routes (`#[route(cron, schedule = "0 */5 * * * *", tz = "...")]`).
//!
//! Slots are computed on the wall clock of the route's time zone
//! ([`worker_rules::cron::Slots`]: each wall-clock slot once across DST
//! changes) and slept for on tokio's clock, so the paused clock of tests
//! drives them. A slot missed while the process was late (or down) is not
//! replayed: after a run the next slot is the first one after now. A slot
//! that finds `max_concurrency` runs going is skipped and counted. With
//! `singleton = true`, only the process holding the route's lock on the
//! broker (see [`SlotLock`]) fires a slot; the others skip it, and take
//! the lock over at a later slot when its holder is gone.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppHandlerFn};
use crate::call::run_guarded;
use crate::future::BoxFuture;
use crate::metrics::RouteStats;
use crate::registry::CronOptions;

/// The lock of a `singleton` cron route: held by one process at a time.
pub trait SlotLock: Send + Sync + 'static {
    /// Whether this process holds the lock now, taking it if it is free.
    fn hold(&self) -> BoxFuture<'_, bool>;
}

/// How long a slot waits for the singleton lock's answer.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The name of a singleton cron route's lock queue.
pub fn lock_queue(route: &str) -> String {
    format!("worker.cron.{route}.lock")
}

/// Wall-clock time on tokio's clock: `start` at the instant the route
/// started, advancing as tokio's clock does.
struct Clock {
    start: DateTime<Utc>,
    at: Instant,
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.at.elapsed()).unwrap_or_default();
        self.start + elapsed
    }

    fn instant_of(&self, t: DateTime<Utc>) -> Instant {
        let ahead = (t - self.start).to_std().unwrap_or_default();
        self.at + ahead
    }
}

/// What a cron route runs with.
pub struct CronTask {
    /// The route's name.
    pub name: &'static str,
    /// Its options.
    pub options: CronOptions,
    /// The generated adapter.
    pub handler: AppHandlerFn,
    /// The application.
    pub app: App,
    /// The route's counters.
    pub stats: Arc<RouteStats>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// The broker lock of a `singleton` route.
    pub lock: Option<Arc<dyn SlotLock>>,
}

/// Runs a cron route from the current wall-clock time until shutdown,
/// then waits for its running calls.
pub async fn run_cron(task: CronTask) {
    run_cron_from(task, Utc::now()).await;
}

/// [`run_cron`] with the wall clock starting at `start` (tests).
pub async fn run_cron_from(task: CronTask, start: DateTime<Utc>) {
    let CronTask {
        name,
        options,
        handler,
        app,
        stats,
        shutdown,
        lock,
    } = task;
    let Some(mut slots) = options.slots() else {
        tracing::error!(
            route = name,
            schedule = options.schedule,
            tz = options.tz,
            "invalid schedule or time zone; the route does not run"
        );
        return;
    };
    let clock = Clock {
        start,
        at: Instant::now(),
    };
    let permits = Arc::new(Semaphore::new(options.max_concurrency.max(1) as usize));
    let mut runs = JoinSet::new();
    stats.ready.store(true, Ordering::Relaxed);
    let mut next = slots.next_after(clock.now());
    while let Some(slot) = next {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(_) = runs.join_next(), if !runs.is_empty() => continue,
            _ = tokio::time::sleep_until(clock.instant_of(slot)) => {}
        }
        let mine = match &lock {
            // A broker that does not answer leaves the slot unfired.
            Some(lock) => tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                held = tokio::time::timeout(LOCK_WAIT, lock.hold()) => held.unwrap_or(false),
            },
            None => true,
        };
        if !mine {
            tracing::debug!(route = name, %slot, "slot left to the process holding the singleton lock");
        } else if let Ok(permit) = permits.clone().try_acquire_owned() {
            let app = app.clone();
            let stats = stats.clone();
            stats.in_flight.fetch_add(1, Ordering::Relaxed);
            runs.spawn(async move {
                let span = crate::otel::run_span(name);
                let _ = run_guarded(&stats, span, options.timeout, handler(app)).await;
                stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
        } else {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(route = name, %slot, max_concurrency = options.max_concurrency, "previous run still going; slot skipped");
        }
        // Slots that passed while this one was handled are not replayed.
        next = slots.next_after(clock.now().max(slot));
    }
    stats.ready.store(false, Ordering::Relaxed);
    while runs.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use std::sync::atomic::{AtomicBool, AtomicU32};
    use std::time::Duration;

    fn options(schedule: &'static str, tz: &'static str) -> CronOptions {
        CronOptions {
            tz,
            ..CronOptions::new(schedule)
        }
    }

    /// Runs `handler` on `schedule` from `start` for `hours` of paused time.
    async fn run_for(
        handler: AppHandlerFn,
        options: CronOptions,
        start: &str,
        hours: u64,
        lock: Option<Arc<dyn SlotLock>>,
    ) -> Arc<RouteStats> {
        let stats = Arc::new(RouteStats::default());
        let shutdown = CancellationToken::new();
        let task = CronTask {
            name: "cron",
            options,
            handler,
            app: App::new(),
            stats: stats.clone(),
            shutdown: shutdown.clone(),
            lock,
        };
        let running = tokio::spawn(run_cron_from(task, start.parse().unwrap()));
        tokio::time::sleep(Duration::from_secs(hours * 3600)).await;
        shutdown.cancel();
        running.await.unwrap();
        stats
    }

    static MINUTES: AtomicU32 = AtomicU32::new(0);
    fn every_minute(_app: App) -> BoxFuture<'static, Result<(), Error>> {
        MINUTES.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }

    #[tokio::test(start_paused = true)]
    async fn sixty_slots_give_sixty_runs() {
        let stats = run_for(
            every_minute,
            options("0 * * * * *", "UTC"),
            "2026-12-01T10:00:30Z",
            1,
            None,
        )
        .await;
        assert_eq!(MINUTES.load(Ordering::SeqCst), 60);
        assert_eq!(stats.runs.load(Ordering::SeqCst), 60);
    }

    static SPRING: AtomicU32 = AtomicU32::new(0);
    fn spring(_app: App) -> BoxFuture<'static, Result<(), Error>> {
        SPRING.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }

    static AUTUMN: AtomicU32 = AtomicU32::new(0);
    fn autumn(_app: App) -> BoxFuture<'static, Result<(), Error>> {
        AUTUMN.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }

    #[tokio::test(start_paused = true)]
    async fn dst_changes_fire_each_wall_clock_slot_once() {
        // Madrid, 2026-03-29: 02:00 becomes 03:00. The day has 23 hours:
        // 46 half-hour slots (02:00 and 02:30 do not exist).
        run_for(
            spring,
            options("0 */30 * * * *", "Europe/Madrid"),
            "2026-03-28T22:59:59Z",
            23,
            None,
        )
        .await;
        assert_eq!(SPRING.load(Ordering::SeqCst), 46);
        // 2026-10-25: 03:00 becomes 02:00. The day has 25 hours, and the
        // repeated hour's slots fire once: 48 slots.
        run_for(
            autumn,
            options("0 */30 * * * *", "Europe/Madrid"),
            "2026-10-24T21:59:59Z",
            25,
            None,
        )
        .await;
        assert_eq!(AUTUMN.load(Ordering::SeqCst), 48);
    }

    static LOCKED: AtomicU32 = AtomicU32::new(0);
    fn locked(_app: App) -> BoxFuture<'static, Result<(), Error>> {
        LOCKED.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }

    /// Held for the first 30 minutes only.
    struct HalfHour(Instant, AtomicBool);

    impl SlotLock for HalfHour {
        fn hold(&self) -> BoxFuture<'_, bool> {
            let held = self.0.elapsed() < Duration::from_secs(1800);
            self.1.store(held, Ordering::SeqCst);
            Box::pin(async move { held })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_singleton_fires_only_while_it_holds_the_lock() {
        let lock = Arc::new(HalfHour(Instant::now(), AtomicBool::new(false)));
        run_for(
            locked,
            CronOptions {
                singleton: true,
                ..options("0 * * * * *", "UTC")
            },
            "2026-12-01T10:00:30Z",
            1,
            Some(lock),
        )
        .await;
        assert_eq!(LOCKED.load(Ordering::SeqCst), 30);
    }
}
