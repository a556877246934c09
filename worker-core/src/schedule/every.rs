//! Recurring tasks (`#[route(every, interval = "30s")]`).
//!
//! A tick runs the task when fewer than `max_concurrency` runs are going,
//! otherwise it is skipped and counted. Errors and panics are logged and
//! never stop the schedule. At shutdown no new run starts and running ones
//! are awaited (up to the shutdown timeout, enforced by the runtime).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppHandlerFn};
use crate::call::run_guarded;
use crate::metrics::RouteStats;
use crate::registry::EveryOptions;

/// Runs a recurring task until `shutdown`, then waits for its running calls.
pub(crate) async fn run_every(
    name: &'static str,
    options: EveryOptions,
    handler: AppHandlerFn,
    app: App,
    stats: Arc<RouteStats>,
    shutdown: CancellationToken,
) {
    let start = if options.run_on_start {
        Instant::now()
    } else {
        Instant::now() + options.interval
    };
    let mut ticker = tokio::time::interval_at(start, options.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let permits = Arc::new(Semaphore::new(options.max_concurrency.max(1) as usize));
    let mut runs = JoinSet::new();
    stats.ready.store(true, Ordering::Relaxed);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    let app = app.clone();
                    let stats = stats.clone();
                    stats.in_flight.fetch_add(1, Ordering::Relaxed);
                    runs.spawn(async move {
                        let span = crate::otel::run_span(name);
                        let _ = run_guarded(&stats, span, options.timeout, handler(app)).await;
                        stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                        drop(permit);
                    });
                }
                Err(_) => {
                    stats.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(route = name, max_concurrency = options.max_concurrency, "previous run still going; tick skipped");
                }
            },
            Some(_) = runs.join_next(), if !runs.is_empty() => {}
        }
    }
    stats.ready.store(false, Ordering::Relaxed);
    while runs.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::future::BoxFuture;
    use crate::Error;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    static CALLS: AtomicU32 = AtomicU32::new(0);

    fn slow(_app: App) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async {
            CALLS.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(25)).await;
            Ok(())
        })
    }

    static FAILS: AtomicU32 = AtomicU32::new(0);

    fn failing(_app: App) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async {
            let n = FAILS.fetch_add(1, Ordering::SeqCst);
            if n % 2 == 0 {
                panic!("boom {n}");
            }
            Err(Error::msg("nope"))
        })
    }

    fn opts(interval: u64, run_on_start: bool) -> EveryOptions {
        EveryOptions {
            interval: Duration::from_secs(interval),
            max_concurrency: 1,
            run_on_start,
            timeout: None,
        }
    }

    /// Runs `handler` every `interval` seconds: its counters, the shutdown
    /// token, the task.
    fn spawn(
        handler: AppHandlerFn,
        interval: u64,
        run_on_start: bool,
    ) -> (
        Arc<RouteStats>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let stats = Arc::new(RouteStats::default());
        let token = CancellationToken::new();
        let task = tokio::spawn(run_every(
            "task",
            opts(interval, run_on_start),
            handler,
            App::new(),
            stats.clone(),
            token.clone(),
        ));
        (stats, token, task)
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_task_skips_ticks_and_running_calls_are_awaited_on_shutdown() {
        let (stats, token, task) = spawn(slow, 10, true);
        // t=0 run starts (25s long); ticks at 10 and 20 are skipped; t=30 runs.
        tokio::time::sleep(Duration::from_millis(30_500)).await;
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        assert_eq!(stats.skipped.load(Ordering::SeqCst), 2);
        let before = Instant::now();
        token.cancel();
        task.await.unwrap();
        // The second run (started at 30s) finishes at 55s: shutdown waited for it.
        assert_eq!(before.elapsed(), Duration::from_millis(24_500));
        assert_eq!(stats.runs.load(Ordering::SeqCst), 2);
    }

    static HANGS: AtomicU32 = AtomicU32::new(0);

    fn hangs(_app: App) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async {
            HANGS.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_past_its_timeout_is_cancelled_and_the_next_tick_runs() {
        let stats = Arc::new(RouteStats::default());
        let token = CancellationToken::new();
        let options = EveryOptions {
            timeout: Some(Duration::from_secs(2)),
            ..opts(5, true)
        };
        let task = tokio::spawn(run_every(
            "hangs",
            options,
            hangs,
            App::new(),
            stats.clone(),
            token.clone(),
        ));
        // Runs at 0, 5, 10; each cancelled at +2 s, so no tick is skipped.
        tokio::time::sleep(Duration::from_millis(12_500)).await;
        token.cancel();
        task.await.unwrap();
        assert_eq!(HANGS.load(Ordering::SeqCst), 3);
        assert_eq!(stats.timeouts.load(Ordering::SeqCst), 3);
        assert_eq!(stats.skipped.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_and_panics_do_not_stop_the_schedule() {
        let (stats, token, task) = spawn(failing, 1, false);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            FAILS.load(Ordering::SeqCst),
            0,
            "run_on_start = false waits one interval"
        );
        tokio::time::sleep(Duration::from_millis(4_000)).await;
        token.cancel();
        task.await.unwrap();
        assert_eq!(FAILS.load(Ordering::SeqCst), 4);
        assert_eq!(stats.panics.load(Ordering::SeqCst), 2);
        assert_eq!(stats.errors.load(Ordering::SeqCst), 2);
    }
}
