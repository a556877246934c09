//! Batches that fail, the same scenarios on both brokers: bisection,
//! decisions kept through it, typed outcomes, timeouts.
//!
//! A test binary implements [`Harness`] for its broker and expands
//! [`failure_scenarios!`](crate::failure_scenarios) with it: the routes and
//! the tests are then its own. `worker-core/tests/failures.rs` runs them on
//! the embedded broker, `worker-rabbitmq/tests/failures.rs` on RabbitMQ.

use std::future::Future;
use std::time::Duration;

use worker_core::backend::metrics::OutcomeCounts;

/// Runs routes of the test binary on one broker.
pub trait Harness: Sized {
    /// Starts the named routes (their queues, and `extra` ones such as
    /// dead-letter queues, emptied first).
    fn start(routes: &[&'static str], extra: &[&str]) -> impl Future<Output = Self>;

    /// Publishes `body` as JSON to `queue` (default exchange).
    fn publish(&self, queue: &str, body: serde_json::Value) -> impl Future<Output = ()>;

    /// The runtime's settlement counts of `queue`.
    fn outcomes(&self, queue: &str) -> OutcomeCounts;

    /// The `id` field of every message now in `queue`, taken out of it.
    fn drain_ids(&self, queue: &str) -> impl Future<Output = Vec<u64>>;

    /// How many handler calls of `route` timed out.
    fn timeouts(&self, route: &str) -> u64;

    /// Stops the application gracefully.
    fn stop(self) -> impl Future<Output = ()>;
}

/// Waits (up to 20 s) until `done` holds for the outcomes of `queue`.
pub async fn wait_for<H: Harness>(
    h: &H,
    queue: &str,
    what: &str,
    done: impl Fn(OutcomeCounts) -> bool,
) {
    let limit = Duration::from_secs(20);
    let deadline = std::time::Instant::now() + limit;
    while !done(h.outcomes(queue)) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what} on `{queue}`: {:?}",
            h.outcomes(queue)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Publishes messages `{"id": i, "poison": poison(i)}` for `ids`.
pub async fn publish_ids<H: Harness>(
    h: &H,
    queue: &str,
    ids: std::ops::Range<u64>,
    poison: impl Fn(u64) -> bool,
) {
    for id in ids {
        h.publish(queue, serde_json::json!({ "id": id, "poison": poison(id) }))
            .await;
    }
}

/// The failure scenarios, expanded in a test binary with its [`Harness`]
/// type: `worker_testkit::failure_scenarios!(MyHarness);`. Routes and
/// queues are named `fs_*` / `fs.*`.
#[macro_export]
macro_rules! failure_scenarios {
    ($harness:ident) => {
        mod failure_scenarios {
            use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
            use std::sync::Mutex;

            use worker_core::{Error, Message};
            use worker_macros::route;
            use $crate::failures::{publish_ids, wait_for, Harness};

            type H = super::$harness;

            #[derive(serde::Deserialize)]
            struct Job {
                id: u64,
                #[serde(default)]
                poison: bool,
            }

            /// Fails the batch if it holds a poison message; counts calls;
            /// notes a redelivery of a good message.
            fn poisoned(msgs: &[Message<Job>], calls: &AtomicU32, redelivered: &AtomicBool) -> Result<(), Error> {
                calls.fetch_add(1, Ordering::SeqCst);
                if msgs.iter().any(|m| m.redelivered() && !m.body().poison) {
                    redelivered.store(true, Ordering::SeqCst);
                }
                if msgs.iter().any(|m| m.body().poison) {
                    return Err(Error::msg("poison in the batch"));
                }
                Ok(())
            }

            static ONE_CALLS: AtomicU32 = AtomicU32::new(0);
            static ONE_REDELIVERED: AtomicBool = AtomicBool::new(false);

            #[route(amqp, crate = "worker_core", queues = ["fs.one"], bulk_size = 100,
                    bulk_flush_interval = "10s", bisect = true, on_exception = reject,
                    dead_letter = "fs.one.dead", declare = true, prefetch = 200)]
            async fn fs_one(msgs: Vec<Message<Job>>) -> Result<(), Error> {
                poisoned(&msgs, &ONE_CALLS, &ONE_REDELIVERED)
            }

            /// One poison message in a batch of 100: at most
            /// 2 * ceil(log2 100) + 1 = 15 handler calls; only it is
            /// dead-lettered, the 99 others are acked once, never redelivered.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bisection_isolates_one_poison_message_in_a_bounded_number_of_calls() {
                let h = H::start(&["fs_one"], &["fs.one.dead"]).await;
                publish_ids(&h, "fs.one", 0..100, |id| id == 37).await;
                wait_for(&h, "fs.one", "the batch settled", |o| o.acked + o.dead_lettered == 100).await;
                let calls = ONE_CALLS.load(Ordering::SeqCst);
                let o = h.outcomes("fs.one");
                assert_eq!((o.acked, o.dead_lettered, o.requeued, o.rejected), (99, 1, 0, 0), "{o:?}");
                assert!(calls <= 15, "{calls} handler calls");
                assert!(!ONE_REDELIVERED.load(Ordering::SeqCst), "a good message was redelivered");
                assert_eq!(h.drain_ids("fs.one.dead").await, [37]);
                h.stop().await;
            }

            static SEVERAL_CALLS: AtomicU32 = AtomicU32::new(0);
            static SEVERAL_REDELIVERED: AtomicBool = AtomicBool::new(false);

            #[route(amqp, crate = "worker_core", queues = ["fs.several"], bulk_size = 100,
                    bulk_flush_interval = "10s", bisect = true, on_exception = reject,
                    dead_letter = "fs.several.dead", declare = true, prefetch = 200)]
            async fn fs_several(msgs: Vec<Message<Job>>) -> Result<(), Error> {
                poisoned(&msgs, &SEVERAL_CALLS, &SEVERAL_REDELIVERED)
            }

            /// Five poison messages among 100: exactly those dead-lettered.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bisection_dead_letters_exactly_the_poison_messages() {
                let h = H::start(&["fs_several"], &["fs.several.dead"]).await;
                let poison = [3u64, 17, 50, 51, 99];
                publish_ids(&h, "fs.several", 0..100, |id| poison.contains(&id)).await;
                wait_for(&h, "fs.several", "the batch settled", |o| o.acked + o.dead_lettered == 100).await;
                let o = h.outcomes("fs.several");
                assert_eq!((o.acked, o.dead_lettered, o.requeued), (95, 5, 0), "{o:?}");
                let calls = SEVERAL_CALLS.load(Ordering::SeqCst);
                // About k * 2 * log2(n / k) = 5 * 2 * 4.3 = 43; at most one
                // bisection path per poison message.
                assert!(calls <= 5 * 2 * 7 + 1, "{calls} handler calls");
                assert!(!SEVERAL_REDELIVERED.load(Ordering::SeqCst));
                let mut dead = h.drain_ids("fs.several.dead").await;
                dead.sort();
                assert_eq!(dead, poison);
                h.stop().await;
            }

            static DECIDED_CALLS: AtomicU32 = AtomicU32::new(0);

            #[route(amqp, crate = "worker_core", queues = ["fs.decided"], bulk_size = 10,
                    bulk_flush_interval = "10s", bisect = true, on_exception = reject,
                    dead_letter = "fs.decided.dead", declare = true)]
            async fn fs_decided(msgs: Vec<Message<Job>>) -> Result<(), Error> {
                DECIDED_CALLS.fetch_add(1, Ordering::SeqCst);
                for m in &msgs {
                    match m.body().id {
                        2 => m.ack(),    // the poison message, acked by the handler
                        5 => m.reject(), // a good one the handler rejects
                        _ => {}
                    }
                }
                if msgs.iter().any(|m| m.body().poison) {
                    return Err(Error::msg("poison in the batch"));
                }
                Ok(())
            }

            /// Decisions made in a failed run are kept: the poison message
            /// the handler acked stays acked (and is not bisected), the
            /// message it rejected is dead-lettered although its half
            /// succeeds; the other eight are acked. Three calls.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn decisions_made_in_a_failed_run_are_kept_through_bisection() {
                let h = H::start(&["fs_decided"], &["fs.decided.dead"]).await;
                publish_ids(&h, "fs.decided", 0..10, |id| id == 2).await;
                wait_for(&h, "fs.decided", "the batch settled", |o| o.acked + o.dead_lettered == 10).await;
                let o = h.outcomes("fs.decided");
                assert_eq!((o.acked, o.dead_lettered, o.requeued), (9, 1, 0), "{o:?}");
                assert_eq!(DECIDED_CALLS.load(Ordering::SeqCst), 3);
                assert_eq!(h.drain_ids("fs.decided.dead").await, [5]);
                h.stop().await;
            }

            static TYPED_CALLS: AtomicU32 = AtomicU32::new(0);

            #[route(amqp, crate = "worker_core", queues = ["fs.typed"], bulk_size = 5,
                    bulk_flush_interval = "10s", bisect = true, on_exception = requeue,
                    dead_letter = "fs.typed.dead", declare = true)]
            async fn fs_typed(msgs: Vec<Message<Job>>) -> Result<(), Error> {
                TYPED_CALLS.fetch_add(1, Ordering::SeqCst);
                if msgs.iter().any(|m| m.body().poison) {
                    // Whatever the size of the run: bisection finds the
                    // message, and the typed error decides what it gets.
                    return Err(Error::reject("this order can never be valid"));
                }
                Ok(())
            }

            /// A typed error from a batch of five is bisected like a plain
            /// one: the poison message, isolated, gets the error's action
            /// (`reject`, winning over `on_exception = requeue`), so it is
            /// dead-lettered; the four others are acked. 7 calls.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_typed_error_is_bisected_and_applies_to_the_isolated_message() {
                let h = H::start(&["fs_typed"], &["fs.typed.dead"]).await;
                publish_ids(&h, "fs.typed", 0..5, |id| id == 3).await;
                wait_for(&h, "fs.typed", "the batch settled", |o| o.acked + o.dead_lettered == 5).await;
                let o = h.outcomes("fs.typed");
                assert_eq!((o.acked, o.dead_lettered, o.requeued), (4, 1, 0), "{o:?}");
                assert_eq!(TYPED_CALLS.load(Ordering::SeqCst), 7);
                assert_eq!(h.drain_ids("fs.typed.dead").await, [3]);
                h.stop().await;
            }

            static WHOLE_CALLS: AtomicU32 = AtomicU32::new(0);

            #[route(amqp, crate = "worker_core", queues = ["fs.whole"], bulk_size = 6,
                    bulk_flush_interval = "10s", on_exception = requeue, declare = true)]
            async fn fs_whole(msgs: Vec<Message<Job>>) -> Result<(), Error> {
                WHOLE_CALLS.fetch_add(1, Ordering::SeqCst);
                if msgs.iter().any(|m| m.body().poison) {
                    // Without `bisect`: an explicit outcome for the batch.
                    return Err(Error::ack("duplicates of orders already handled"));
                }
                Ok(())
            }

            /// Without `bisect`, a typed error settles the whole batch: one
            /// call, and all six messages get its action (`ack`), not
            /// `on_exception` (`requeue`).
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn without_bisect_a_typed_error_settles_the_whole_batch() {
                let h = H::start(&["fs_whole"], &[]).await;
                publish_ids(&h, "fs.whole", 0..6, |id| id == 0).await;
                wait_for(&h, "fs.whole", "the batch settled", |o| o.acked == 6).await;
                let o = h.outcomes("fs.whole");
                assert_eq!((o.acked, o.requeued, o.rejected), (6, 0, 0), "{o:?}");
                assert_eq!(WHOLE_CALLS.load(Ordering::SeqCst), 1);
                h.stop().await;
            }

            /// An application's own error type choosing the action of its
            /// messages: `impl From<OrderError> for worker::Error` (for an
            /// error type that is not a `std::error::Error`; one that is
            /// maps with `.map_err(..)?`, see `classify`).
            #[derive(Debug)]
            enum OrderError {
                Invalid(u64),
                Unavailable,
            }

            impl std::fmt::Display for OrderError {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    match self {
                        OrderError::Invalid(id) => write!(f, "order {id} is invalid"),
                        OrderError::Unavailable => f.write_str("stock service unavailable"),
                    }
                }
            }

            impl From<OrderError> for Error {
                fn from(e: OrderError) -> Error {
                    match e {
                        OrderError::Invalid(_) => Error::reject(Error::msg(e)),
                        OrderError::Unavailable => Error::requeue(Error::msg(e)),
                    }
                }
            }

            /// The `map_err` form, for error types that implement
            /// `std::error::Error` (a `From` impl would conflict with `?`'s).
            fn classify(e: std::num::ParseIntError) -> Error {
                Error::reject(e)
            }

            static UNAVAILABLE_ONCE: AtomicBool = AtomicBool::new(false);

            #[route(amqp, crate = "worker_core", queues = ["fs.mapped"], on_exception = ack,
                    dead_letter = "fs.mapped.dead", declare = true)]
            async fn fs_mapped(msgs: Vec<Message<Job>>) -> Result<(), OrderError> {
                let m = &msgs[0];
                match m.body().id {
                    1 => Err(OrderError::Invalid(1)),
                    2 if !UNAVAILABLE_ONCE.swap(true, Ordering::SeqCst) => Err(OrderError::Unavailable),
                    _ => Ok(()),
                }
            }

            #[route(amqp, crate = "worker_core", queues = ["fs.parsed"], on_exception = ack,
                    dead_letter = "fs.parsed.dead", declare = true)]
            async fn fs_parsed(msgs: Vec<Message>) -> Result<(), Error> {
                let text = msgs[0].body()["n"].as_str().unwrap_or_default().to_owned();
                text.parse::<u32>().map_err(classify)?;
                Ok(())
            }

            /// Both mapping patterns: `Invalid` is dead-lettered, the
            /// first `Unavailable` requeued then acked, the unparsable
            /// body dead-lettered; `on_exception = ack` applies to none.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_application_error_type_chooses_the_action() {
                let h = H::start(&["fs_mapped", "fs_parsed"], &["fs.mapped.dead", "fs.parsed.dead"]).await;
                publish_ids(&h, "fs.mapped", 1..4, |_| false).await;
                h.publish("fs.parsed", serde_json::json!({ "id": 10, "n": "12" })).await;
                h.publish("fs.parsed", serde_json::json!({ "id": 11, "n": "twelve" })).await;
                wait_for(&h, "fs.mapped", "the orders settled", |o| o.acked == 2 && o.dead_lettered == 1).await;
                wait_for(&h, "fs.parsed", "the bodies settled", |o| o.acked == 1 && o.dead_lettered == 1).await;
                let o = h.outcomes("fs.mapped");
                assert_eq!((o.acked, o.dead_lettered, o.requeued), (2, 1, 1), "{o:?}");
                assert_eq!(h.drain_ids("fs.mapped.dead").await, [1]);
                assert_eq!(h.drain_ids("fs.parsed.dead").await, [11]);
                h.stop().await;
            }

            static HUNG: Mutex<Vec<(u64, u32)>> = Mutex::new(Vec::new());

            #[route(amqp, crate = "worker_core", queues = ["fs.timeout"], timeout = "200ms",
                    max_retries = 2, retry_backoff = "50ms", dead_letter = "fs.timeout.dead",
                    declare = true)]
            async fn fs_timeout(msgs: Vec<Message<Job>>) {
                let m = &msgs[0];
                HUNG.lock().unwrap().push((m.body().id, m.retry_count()));
                if m.body().poison && m.retry_count() == 0 {
                    // Hangs on its first attempt: cancelled at the timeout.
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                }
            }

            /// A handler past its `timeout` is cancelled: the run counts as
            /// an exception, so the message is retried (and then handled),
            /// and the next message is handled meanwhile.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_timed_out_run_is_retried_and_the_next_batch_is_handled() {
                let h = H::start(&["fs_timeout"], &["fs.timeout.dead"]).await;
                publish_ids(&h, "fs.timeout", 1..3, |id| id == 1).await;
                wait_for(&h, "fs.timeout", "both handled", |o| o.acked == 2).await;
                let o = h.outcomes("fs.timeout");
                assert_eq!((o.acked, o.retried, o.dead_lettered, o.requeued), (2, 1, 0, 0), "{o:?}");
                assert_eq!(h.timeouts("fs_timeout"), 1);
                let seen = HUNG.lock().unwrap().clone();
                assert!(seen.contains(&(1, 0)) && seen.contains(&(1, 1)) && seen.contains(&(2, 0)), "{seen:?}");
                h.stop().await;
            }

            static SLOW_POISON_CALLS: AtomicU32 = AtomicU32::new(0);

            #[route(amqp, crate = "worker_core", queues = ["fs.slow"], bulk_size = 8,
                    bulk_flush_interval = "10s", timeout = "100ms", bisect = true,
                    on_exception = reject, dead_letter = "fs.slow.dead", declare = true)]
            async fn fs_slow(msgs: Vec<Message<Job>>) {
                SLOW_POISON_CALLS.fetch_add(1, Ordering::SeqCst);
                if msgs.iter().any(|m| m.body().poison) {
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                }
            }

            /// A message that makes the handler hang is found by bisection
            /// like one that makes it fail: each run holding it times out.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn timeouts_are_bisected_like_errors() {
                let h = H::start(&["fs_slow"], &["fs.slow.dead"]).await;
                publish_ids(&h, "fs.slow", 0..8, |id| id == 6).await;
                wait_for(&h, "fs.slow", "the batch settled", |o| o.acked + o.dead_lettered == 8).await;
                let o = h.outcomes("fs.slow");
                assert_eq!((o.acked, o.dead_lettered), (7, 1), "{o:?}");
                assert_eq!(SLOW_POISON_CALLS.load(Ordering::SeqCst), 7);
                assert_eq!(h.timeouts("fs_slow"), 4);
                assert_eq!(h.drain_ids("fs.slow.dead").await, [6]);
                h.stop().await;
            }
        }
    };
}
