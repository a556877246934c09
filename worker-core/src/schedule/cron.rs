//! Cron routes (`#[route(cron, schedule = "0 */5 * * * *", tz = "...")]`).
//!
//! Slots are computed on the wall clock of the route's time zone
//! ([`worker_rules::cron::Slots`]: each wall-clock slot once across DST
//! changes) and slept for on tokio's clock, so the paused clock of tests
//! drives them. A slot missed while the process was late (or down) is not
//! replayed: after a run the next slot is the first one after now. A slot
//! that finds `max_concurrency` runs going is skipped. With
//! `singleton = true`, only the process holding the route's lock on the
//! broker (see [`SlotLock`]) fires a slot; the others skip it, and take
//! the lock over at a later slot when its holder is gone. Every slot that
//! does not run is logged at `warn` with its reason and its time in the
//! route's zone, and counted by reason ([`SkipReason`]). A singleton route
//! whose lock's broker does not answer is not ready (probed every
//! [`LOCK_PROBE`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use worker_rules::cron::Tz;

use crate::app::{App, AppHandlerFn};
use crate::broker::{Hold, Record, SlotLock};
use crate::call::run_guarded;
use crate::metrics::{RouteStats, SkipReason};
use crate::registry::CronOptions;

/// How long a slot waits for the singleton lock's answer.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a singleton route asks its lock's broker, for readiness.
pub(crate) const LOCK_PROBE: std::time::Duration = std::time::Duration::from_secs(5);

/// The name of a singleton cron route's lock queue.
pub(crate) fn lock_queue(route: &str) -> String {
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

/// The name of a `catch_up` cron route's state queue.
pub fn state_queue(route: &str) -> String {
    format!("worker.cron.{route}.last")
}

/// What a cron route runs with.
pub(crate) struct CronTask {
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
    /// The last fired slot of a `catch_up` route (RFC 3339, UTC).
    pub state: Option<Arc<dyn Record>>,
}

/// Runs a cron route from the current wall-clock time until shutdown,
/// then waits for its running calls.
pub(crate) async fn run_cron(task: CronTask) {
    run_cron_from(task, Utc::now()).await;
}

/// Fires the slots of one route.
struct Firing {
    task: CronTask,
    tz: Tz,
    permits: Arc<Semaphore>,
    runs: JoinSet<()>,
}

impl Firing {
    /// Fires `slot` if this process may (it holds the singleton lock) and
    /// a run is free; `false` once shutdown started.
    async fn fire(&mut self, slot: DateTime<Utc>) -> bool {
        let t = &self.task;
        if let Some(lock) = &t.lock {
            let hold = tokio::select! {
                biased;
                _ = t.shutdown.cancelled() => return false,
                held = tokio::time::timeout(LOCK_WAIT, lock.hold()) => held.unwrap_or_else(|_| {
                    Hold::Unreachable(format!("no answer within {LOCK_WAIT:?}"))
                }),
            };
            t.stats
                .ready
                .store(!matches!(hold, Hold::Unreachable(_)), Ordering::Relaxed);
            match hold {
                Hold::Mine => {}
                Hold::Elsewhere => {
                    self.skip(slot, SkipReason::LockHeldElsewhere, None);
                    return true;
                }
                Hold::Unreachable(why) => {
                    self.skip(slot, SkipReason::BrokerUnreachable, Some(&why));
                    return true;
                }
            }
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.skip(slot, SkipReason::Busy, None);
            return true;
        };
        let t = &self.task;
        let (app, stats, handler, name, timeout) = (
            t.app.clone(),
            t.stats.clone(),
            t.handler,
            t.name,
            t.options.timeout,
        );
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        self.runs.spawn(async move {
            let span = crate::otel::run_span(name);
            let _ = run_guarded(&stats, span, timeout, handler(app)).await;
            stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
        if let Some(state) = &t.state {
            if let Err(e) = state.store(slot.to_rfc3339()).await {
                tracing::warn!(route = t.name, error = %e, "cannot record the fired slot (catch_up)");
            }
        }
        true
    }

    /// Logs and counts a slot that does not run.
    fn skip(&self, slot: DateTime<Utc>, reason: SkipReason, detail: Option<&str>) {
        let t = &self.task;
        t.stats.skip_slot(reason);
        let slot = slot.with_timezone(&self.tz).to_rfc3339();
        match reason {
            SkipReason::LockHeldElsewhere => tracing::warn!(
                route = t.name, slot, reason = reason.label(),
                "slot skipped: another process holds the singleton lock and fires it"
            ),
            SkipReason::BrokerUnreachable => tracing::warn!(
                route = t.name, slot, reason = reason.label(), error = detail.unwrap_or(""),
                "slot skipped: the singleton lock's broker does not answer, so no process may fire it"
            ),
            SkipReason::Busy => tracing::warn!(
                route = t.name, slot, reason = reason.label(),
                max_concurrency = t.options.max_concurrency,
                "slot skipped: the previous run is still going"
            ),
        }
    }
}

/// While the route runs, asks its lock's broker every [`LOCK_PROBE`]: the
/// route is ready only while the broker answers.
async fn probe_lock(lock: Arc<dyn SlotLock>, stats: Arc<RouteStats>, shutdown: CancellationToken) {
    loop {
        let hold = tokio::select! {
            _ = shutdown.cancelled() => return,
            held = tokio::time::timeout(LOCK_WAIT, lock.hold()) => held.ok(),
        };
        let reachable = hold.is_some_and(|h| !matches!(h, Hold::Unreachable(_)));
        stats.ready.store(reachable, Ordering::Relaxed);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(LOCK_PROBE) => {}
        }
    }
}

/// [`run_cron`] with the wall clock starting at `start` (tests).
pub(crate) async fn run_cron_from(task: CronTask, start: DateTime<Utc>) {
    let (name, options) = (task.name, task.options);
    let (Some(mut slots), Ok(tz)) = (options.slots(), worker_rules::cron::time_zone(options.tz))
    else {
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
    let shutdown = task.shutdown.clone();
    let stats = task.stats.clone();
    let probe = task
        .lock
        .clone()
        .map(|lock| tokio::spawn(probe_lock(lock, stats.clone(), shutdown.clone())));
    if probe.is_none() {
        stats.ready.store(true, Ordering::Relaxed);
    }
    let mut firing = Firing {
        permits: Arc::new(Semaphore::new(options.max_concurrency.max(1) as usize)),
        runs: JoinSet::new(),
        task,
        tz,
    };
    if let Some(missed) = missed_slot(&firing.task, &slots, clock.now()).await {
        tracing::info!(route = name, slot = %missed.with_timezone(&tz).to_rfc3339(), "catching up on a slot missed while the route ran nowhere");
        firing.fire(missed).await;
    }
    let mut next = slots.next_after(clock.now());
    while let Some(slot) = next {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(_) = firing.runs.join_next(), if !firing.runs.is_empty() => continue,
            _ = tokio::time::sleep_until(clock.instant_of(slot)) => {}
        }
        if !firing.fire(slot).await {
            break;
        }
        // Slots that passed while this one was handled are not replayed.
        next = slots.next_after(clock.now().max(slot));
    }
    if let Some(probe) = probe {
        let _ = probe.await;
    }
    stats.ready.store(false, Ordering::Relaxed);
    while firing.runs.join_next().await.is_some() {}
}

/// With `catch_up`, the latest slot at or before `now` when it is later
/// than the last one fired (nothing before a first fire is missed).
async fn missed_slot(
    task: &CronTask,
    slots: &worker_rules::cron::Slots,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let state = task.state.as_ref().filter(|_| task.options.catch_up)?;
    let last = match state.read().await {
        Ok(Some(last)) => last,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(route = task.name, error = %e, "cannot read the last fired slot; not catching up");
            return None;
        }
    };
    let Ok(last) = DateTime::parse_from_rfc3339(last.trim()) else {
        tracing::warn!(
            route = task.name,
            record = last,
            "the last fired slot is not an RFC 3339 time; not catching up"
        );
        return None;
    };
    slots
        .latest_at_or_before(now)
        .filter(|latest| *latest > last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::future::BoxFuture;
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
        state: Option<Arc<dyn Record>>,
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
            state,
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
        fn hold(&self) -> BoxFuture<'_, Hold> {
            let held = self.0.elapsed() < Duration::from_secs(1800);
            self.1.store(held, Ordering::SeqCst);
            Box::pin(async move {
                if held {
                    Hold::Mine
                } else {
                    Hold::Elsewhere
                }
            })
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
            None,
        )
        .await;
        assert_eq!(LOCKED.load(Ordering::SeqCst), 30);
    }

    /// A record kept in memory.
    struct Remembered(std::sync::Mutex<Option<String>>);

    impl Record for Remembered {
        fn read(&self) -> BoxFuture<'_, Result<Option<String>, crate::error::BrokerError>> {
            let last = self.0.lock().unwrap().clone();
            Box::pin(async move { Ok(last) })
        }
        fn store(&self, value: String) -> BoxFuture<'_, Result<(), crate::error::BrokerError>> {
            *self.0.lock().unwrap() = Some(value);
            Box::pin(async { Ok(()) })
        }
    }

    fn remembered(last: Option<&str>) -> Arc<Remembered> {
        Arc::new(Remembered(std::sync::Mutex::new(last.map(str::to_owned))))
    }

    static HOURLY: AtomicU32 = AtomicU32::new(0);
    fn hourly(_app: App) -> BoxFuture<'static, Result<(), Error>> {
        HOURLY.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }

    #[tokio::test(start_paused = true)]
    async fn catch_up_fires_the_latest_missed_slot_once() {
        let hourly_from = |catch_up| CronOptions {
            catch_up,
            ..options("0 0 * * * *", "UTC")
        };
        // Down from 09:00 to 12:30: three slots missed, one run for them,
        // then 13:00.
        let state = remembered(Some("2026-12-01T09:00:00Z"));
        let stats = run_for(
            hourly,
            hourly_from(true),
            "2026-12-01T12:30:00Z",
            1,
            None,
            Some(state.clone()),
        )
        .await;
        assert_eq!(stats.runs.load(Ordering::SeqCst), 2);
        assert_eq!(HOURLY.load(Ordering::SeqCst), 2);
        assert_eq!(
            state.0.lock().unwrap().as_deref(),
            Some("2026-12-01T13:00:00+00:00")
        );
        // Without catch_up, or with nothing missed, or never fired before:
        // only 13:00.
        for (catch_up, last) in [
            (false, Some("2026-12-01T09:00:00Z")),
            (true, Some("2026-12-01T12:00:00Z")),
            (true, None),
        ] {
            let stats = run_for(
                hourly,
                hourly_from(catch_up),
                "2026-12-01T12:30:00Z",
                1,
                None,
                Some(remembered(last)),
            )
            .await;
            assert_eq!(
                stats.runs.load(Ordering::SeqCst),
                1,
                "catch_up {catch_up}, last {last:?}"
            );
        }
    }
}
