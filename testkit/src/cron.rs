//! Cron routes that keep state on their broker, the same scenarios on
//! both brokers: `catch_up` without `singleton`, and a `singleton` route
//! whose lock's broker does not answer.
//!
//! A test binary implements [`CronHarness`] for its broker and expands
//! [`cron_scenarios!`](crate::cron_scenarios) with it.

use std::future::Future;
use std::sync::Arc;

use worker_core::backend::runtime::{Connector, RuntimeBuilder};

/// One broker, reachable or not, for the cron scenarios.
pub trait CronHarness: Sized {
    /// A reachable broker with fresh state.
    fn up() -> impl Future<Output = Self>;
    /// A broker that does not answer (yet).
    fn down() -> impl Future<Output = Self>;
    /// Makes a [`down`](Self::down) broker answer.
    fn heal(&self) -> impl Future<Output = ()>;
    /// Its URL (`WORKER_AMQP_URL`).
    fn url(&self) -> String;
    /// The connector of its scheme.
    fn connector(&self) -> Arc<dyn Connector>;

    /// A runtime of `routes` on this broker.
    fn runtime(&self, routes: &[&str]) -> RuntimeBuilder {
        crate::runtime(routes, [("WORKER_AMQP_URL", self.url())]).connector(self.connector())
    }

    /// Stores `value` in the one-message record queue `queue`, as the
    /// runtime does.
    fn store(&self, queue: &str, value: &str) -> impl Future<Output = ()> {
        async move {
            let conn = self.connector().connect("seed", &self.url()).unwrap();
            conn.coordination()
                .expect("a broker connection coordinates")
                .record(queue.to_owned())
                .store(value.to_owned())
                .await
                .unwrap_or_else(|e| panic!("store `{value}` in `{queue}`: {e}"));
            conn.close().await;
        }
    }

    /// The value of the record queue `queue`.
    fn read(&self, queue: &str) -> impl Future<Output = Option<String>> {
        async move {
            let conn = self.connector().connect("seed", &self.url()).unwrap();
            let coordination = conn
                .coordination()
                .expect("a broker connection coordinates");
            let value = coordination.record(queue.to_owned()).read().await.unwrap();
            conn.close().await;
            value
        }
    }
}

/// The cron scenarios, expanded in a test binary with its [`CronHarness`]
/// type: `worker_testkit::cron_scenarios!(MyHarness);`. Routes are named
/// `cs_*`.
#[macro_export]
macro_rules! cron_scenarios {
    ($harness:ident) => {
        mod cron_scenarios {
            use std::sync::atomic::{AtomicU32, Ordering};
            use std::time::Duration;

            use worker_core::backend::metrics::SkipReason;
            use worker_macros::route;
            use $crate::cron::CronHarness;

            type H = super::$harness;

            static CATCH_UP_RUNS: AtomicU32 = AtomicU32::new(0);

            #[route(cron, crate = "worker_core", schedule = "0 0 * * * *", catch_up = true)]
            async fn cs_catch_up() {
                CATCH_UP_RUNS.fetch_add(1, Ordering::SeqCst);
            }

            /// `catch_up` without `singleton`: the record of the last fired
            /// slot (an hourly slot long ago) is behind the latest slot, so
            /// the route runs once at startup and records that slot.
            #[tokio::test]
            async fn catch_up_alone_catches_up() {
                let h = H::up().await;
                let queue = worker_core::backend::schedule::state_queue("cs_catch_up");
                h.store(&queue, "2000-01-01T00:00:00+00:00").await;
                let runtime = h.runtime(&["cs_catch_up"]).build();
                let (app, stats) = (runtime.app().clone(), runtime.stats().clone());
                let task = tokio::spawn(runtime.run());
                $crate::wait_until("the missed slot to run", Duration::from_secs(10), || {
                    CATCH_UP_RUNS.load(Ordering::SeqCst) == 1
                })
                .await;
                app.shutdown();
                task.await.unwrap().unwrap();
                assert_eq!(
                    stats
                        .route("cs_catch_up", "cron")
                        .runs
                        .load(Ordering::SeqCst),
                    1
                );
                let recorded = h.read(&queue).await.expect("the fired slot is recorded");
                assert!(
                    recorded.as_str() > "2026-01-01",
                    "the latest hourly slot is recorded: {recorded}"
                );
            }

            static LONELY_RUNS: AtomicU32 = AtomicU32::new(0);

            #[route(
                cron,
                crate = "worker_core",
                schedule = "* * * * * *",
                singleton = true
            )]
            async fn cs_lonely() {
                LONELY_RUNS.fetch_add(1, Ordering::SeqCst);
            }

            /// A `singleton` route whose lock's broker does not answer
            /// fires no slot, warns and counts each one as skipped for that
            /// reason, and is not ready; once the broker answers, it takes
            /// the lock, is ready and fires.
            #[tokio::test]
            async fn a_singleton_with_its_broker_down_warns_counts_and_is_not_ready() {
                let logs = $crate::Logs::capture();
                let h = H::down().await;
                let runtime = h.runtime(&["cs_lonely"]).build();
                let (app, stats) = (runtime.app().clone(), runtime.stats().clone());
                let route = stats.route("cs_lonely", "cron");
                let task = tokio::spawn(runtime.run());
                $crate::wait_until("two unreachable slots", Duration::from_secs(20), || {
                    route.slots_skipped(SkipReason::BrokerUnreachable) >= 2
                })
                .await;
                assert_eq!(LONELY_RUNS.load(Ordering::SeqCst), 0);
                assert!(!route.is_ready(), "not ready while its broker is down");
                let warned = logs.matching("WARN", "the singleton lock's broker does not answer");
                assert!(warned.len() >= 2, "a warning per slot: {:?}", logs.lines());
                assert!(
                    warned[0].contains("reason=\"broker_unreachable\"")
                        && warned[0].contains("slot="),
                    "{}",
                    warned[0]
                );
                h.heal().await;
                $crate::wait_until("the route to fire", Duration::from_secs(20), || {
                    LONELY_RUNS.load(Ordering::SeqCst) > 0
                })
                .await;
                $crate::wait_until("the route to be ready", Duration::from_secs(10), || {
                    route.is_ready()
                })
                .await;
                app.shutdown();
                task.await.unwrap().unwrap();
            }
        }
    };
}
