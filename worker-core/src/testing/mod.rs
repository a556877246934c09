//! Testing harness: run an application on a private embedded broker, publish
//! typed messages, wait until everything is settled, and read per-queue
//! outcomes, what the handlers published, and their failures.
//!
//! ```
//! use worker_core::testing::TestApp;
//! use worker_core::{Message, Publisher};
//!
//! // In an application: `use worker::route;` and no `crate = ...`.
//! #[worker_macros::route(amqp, crate = "worker_core", queues = ["items"])]
//! async fn check(items: Vec<Message<u32>>, out: Publisher) -> Result<(), worker_core::Error> {
//!     for m in &items {
//!         out.send("doubled", &(m.body() * 2)).await?;
//!     }
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let t = TestApp::builder().route("check").declare("doubled").start().await;
//! t.publish("items", &7u32).await;
//! t.wait_idle().await;
//! assert_eq!(t.report("items").acked, 1);
//! assert_eq!(t.messages::<u32>("doubled"), [14]);
//! assert!(t.errors("check").is_empty());
//! t.shutdown().await.unwrap();
//! # }
//! ```
//!
//! When `wait_idle` times out, its panic shows each queue's counts and each
//! route's last handler failures; [`TestApp::errors`] and
//! [`QueueReport::errors`] return them. The application's warnings and
//! errors go to the test's captured output (`WORKER_LOG` sets the filter).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::broker::Properties;
use crate::error::Error;
use crate::memory::{MemoryBroker, StoredMessage};
use crate::metrics::StatsRegistry;
use crate::registry::{Route, RouteKind};

mod builder;
mod report;

pub use builder::TestAppBuilder;
pub use report::QueueReport;

/// A running application on a private embedded broker.
pub struct TestApp {
    app: App,
    broker: MemoryBroker,
    stats: Arc<StatsRegistry>,
    routes: Vec<&'static Route>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl std::fmt::Debug for TestApp {
    /// The routes served and the embedded broker.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<&str> = self.routes.iter().map(|r| r.name).collect();
        f.debug_struct("TestApp")
            .field("routes", &routes)
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl TestApp {
    /// A builder serving every linked route unless narrowed with `route`.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            routes: None,
            hooks: true,
            vars: Vec::new(),
            app: App::new(),
            services: Vec::new(),
            declare: Vec::new(),
            log: true,
        }
    }

    /// The application handle.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The embedded broker (for fault injection and inspection).
    pub fn broker(&self) -> &MemoryBroker {
        &self.broker
    }

    /// The runtime's counters.
    pub fn stats(&self) -> &Arc<StatsRegistry> {
        &self.stats
    }

    /// Publishes `value` as JSON to `queue` (default exchange).
    pub async fn publish<T: Serialize + ?Sized>(&self, queue: &str, value: &T) {
        let body = serde_json::to_vec(value).expect("serialize test message");
        self.publish_with(queue, body, Properties::default()).await;
    }

    /// Publishes `value` as JSON to `exchange` with `routing_key`: what a
    /// route bound to the exchange gets (its exchange and bindings are
    /// declared on the test broker).
    pub async fn publish_to<T: Serialize + ?Sized>(
        &self,
        exchange: &str,
        routing_key: &str,
        value: &T,
    ) {
        let body = serde_json::to_vec(value).expect("serialize test message");
        self.broker
            .publish(exchange, routing_key, body, Properties::default())
            .unwrap_or_else(|e| {
                panic!(
                    "publish to exchange `{exchange}` with `{routing_key}` on the test broker: {e}"
                )
            });
    }

    /// Publishes raw bytes to `queue`.
    pub async fn publish_raw(&self, queue: &str, body: impl Into<Vec<u8>>) {
        self.publish_with(queue, body.into(), Properties::default())
            .await;
    }

    /// Publishes raw bytes with properties to `queue`.
    pub async fn publish_with(&self, queue: &str, body: Vec<u8>, properties: Properties) {
        self.broker
            .publish("", queue, body, properties)
            .unwrap_or_else(|e| panic!("publish to `{queue}` on the test broker: {e}"));
    }

    /// Takes the messages waiting in `queue` and decodes each JSON body as
    /// a `T`: what the handlers published there, oldest first (the queue
    /// is left empty). Panics naming the queue if it does not exist (declare
    /// it with [`TestAppBuilder::declare`]) or a body does not decode.
    pub fn messages<T: DeserializeOwned>(&self, queue: &str) -> Vec<T> {
        self.take_messages(queue)
            .into_iter()
            .map(|m| {
                serde_json::from_slice(&m.body).unwrap_or_else(|e| {
                    panic!(
                        "a message in `{queue}` does not decode as `{}`: {e}; body: {}",
                        std::any::type_name::<T>(),
                        String::from_utf8_lossy(&m.body)
                    )
                })
            })
            .collect()
    }

    /// Takes the messages waiting in `queue`, raw (body, properties,
    /// headers, routing key). Panics naming the queue if it does not exist.
    pub fn take_messages(&self, queue: &str) -> Vec<StoredMessage> {
        self.broker.take(queue).unwrap_or_else(|e| {
            panic!("cannot read `{queue}` on the test broker: {e} (declare it with `TestApp::builder().declare(\"{queue}\")`)")
        })
    }

    /// The last failed handler calls of `route` (`error: ...`, `panic:
    /// ...`, `timeout: ...`), oldest first; empty when none failed.
    pub fn errors(&self, route: &str) -> Vec<String> {
        self.stats
            .all()
            .iter()
            .filter(|s| s.route == route)
            .flat_map(|s| s.recent_failures())
            .collect()
    }

    pub(super) async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(task) = &self.task {
                assert!(
                    !task.is_finished(),
                    "the application stopped during startup"
                );
            }
            let all = self.routes.iter().all(|r| {
                !matches!(
                    r.kind,
                    RouteKind::Amqp { .. } | RouteKind::Every { .. } | RouteKind::Cron { .. }
                ) || self
                    .stats
                    .all()
                    .iter()
                    .any(|s| s.route == r.name && s.is_ready())
            });
            if all {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "routes did not become ready within 10s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Whether every message of the routes' queues is settled and nothing is
    /// buffered or in flight.
    pub fn is_idle(&self) -> bool {
        let stats = self.stats.all();
        let busy = stats.iter().any(|s| {
            s.backend == "amqp"
                && (s.in_flight.load(Ordering::Relaxed) > 0
                    || s.buffered.load(Ordering::Relaxed) > 0)
        });
        if busy {
            return false;
        }
        self.routes.iter().all(|r| match r.kind {
            RouteKind::Amqp { options, .. } => options.queues.iter().all(|q| {
                self.broker
                    .stats(q)
                    .is_none_or(|s| s.ready == 0 && s.unacked == 0)
            }),
            _ => true,
        }) && self.broker.pending_delayed() == 0
    }

    /// Waits (up to 10 s) until [`is_idle`](TestApp::is_idle); panics with
    /// the queue reports otherwise.
    pub async fn wait_idle(&self) {
        self.wait_idle_for(Duration::from_secs(10)).await
    }

    /// Waits up to `limit` until idle.
    pub async fn wait_idle_for(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut stable = 0;
        loop {
            // Idle twice in a row: a delivery may be between the broker and
            // the consumer's buffer.
            if self.is_idle() {
                stable += 1;
                if stable >= 3 {
                    return;
                }
            } else {
                stable = 0;
            }
            if tokio::time::Instant::now() >= deadline {
                let queues: Vec<(&str, QueueReport)> = self
                    .routes
                    .iter()
                    .filter_map(|r| r.amqp())
                    .flat_map(|o| o.queues.iter())
                    .map(|q| (*q, self.report(q)))
                    .collect();
                let routes: Vec<(&str, Vec<String>)> = self
                    .routes
                    .iter()
                    .map(|r| (r.name, self.errors(r.name)))
                    .collect();
                panic!("{}", report::not_idle(limit, &queues, &routes));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Outcomes of `queue`, summed over the routes consuming it, with
    /// those routes' last handler failures.
    pub fn report(&self, queue: &str) -> QueueReport {
        let mut r = QueueReport::default();
        for s in self.stats.all() {
            if let Some(c) = s.queues().get(queue) {
                r.settled += *c;
                r.errors.extend(s.recent_failures());
            }
        }
        if let Some(s) = self.broker.stats(queue) {
            r.ready = s.ready;
            r.unacked = s.unacked;
        }
        r
    }

    /// Drops every broker connection, as a network failure would.
    pub fn drop_connection(&self) {
        self.broker.drop_connections();
    }

    /// Shuts the application down gracefully and returns its result.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.app.shutdown();
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| Error::msg(format!("runtime task failed: {e}")))?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.app.shutdown();
    }
}
