//! Testing harness: run an application on a private embedded broker, publish
//! typed messages, wait until everything is settled, and read per-queue
//! outcomes.
//!
//! ```
//! use worker_core::testing::TestApp;
//! use worker_core::Message;
//!
//! // In an application: `use worker::route;` and no `crate = ...`.
//! #[worker_macros::route(amqp, crate = "worker_core", queues = ["items"])]
//! async fn check(items: Vec<Message<u32>>) {
//!     assert!(items.iter().all(|m| *m.body() < 100));
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let t = TestApp::builder().route("check").start().await;
//! t.publish("items", &7u32).await;
//! t.wait_idle().await;
//! assert_eq!(t.report("items").acked, 1);
//! t.shutdown().await.unwrap();
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::broker::{Properties, QueueOptions};
use crate::config::{Config, MainOptions};
use crate::error::Error;
use crate::memory::MemoryBroker;
use crate::metrics::{OutcomeCounts, StatsRegistry};
use crate::registry::{self, Hook, Route, RouteKind};
use crate::runtime::{Runtime, Service};

/// Outcomes of one queue: what the runtime decided (summed over the routes
/// consuming it), and what the broker holds. The outcome counts read as
/// fields of the report (`report.acked`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueReport {
    /// Messages settled, by final action.
    pub settled: OutcomeCounts,
    /// Messages waiting in the queue.
    pub ready: u64,
    /// Messages delivered and not yet settled.
    pub unacked: u64,
}

impl std::ops::Deref for QueueReport {
    type Target = OutcomeCounts;

    fn deref(&self) -> &OutcomeCounts {
        &self.settled
    }
}

/// Configures a [`TestApp`].
pub struct TestAppBuilder {
    routes: Option<Vec<&'static Route>>,
    hooks: bool,
    vars: Vec<(String, String)>,
    app: App,
    services: Vec<Arc<dyn Service>>,
}

static NEXT_BROKER: AtomicU64 = AtomicU64::new(0);

impl TestAppBuilder {
    /// Serves only the named route(s) (by handler name); call repeatedly.
    /// Panics with the list of known routes if none has that name.
    pub fn route(mut self, name: &str) -> Self {
        let all = registry::routes();
        let found: Vec<_> = all.iter().filter(|r| r.name == name).copied().collect();
        assert!(
            !found.is_empty(),
            "no route named `{name}`; linked routes: {:?}",
            all.iter().map(|r| r.name).collect::<Vec<_>>()
        );
        self.routes.get_or_insert_with(Vec::new).extend(found);
        self
    }

    /// Serves an explicit route record.
    pub fn route_record(mut self, route: &'static Route) -> Self {
        self.routes.get_or_insert_with(Vec::new).push(route);
        self
    }

    /// Whether to run the linked `#[on_startup]`/`#[on_shutdown]` hooks (default true).
    pub fn hooks(mut self, yes: bool) -> Self {
        self.hooks = yes;
        self
    }

    /// Sets a configuration variable (`WORKER_FLUSH_TIMEOUT`, ...). The
    /// process environment is not read.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.vars.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Uses this application handle (e.g. with state inserted beforehand).
    pub fn app(mut self, app: App) -> Self {
        self.app = app;
        self
    }

    /// Adds a backend service (e.g. `worker-http`'s server) to the runtime.
    pub fn service(mut self, service: Arc<dyn Service>) -> Self {
        self.services.push(service);
        self
    }

    /// Declares the routes' queues on a private embedded broker and starts
    /// the application on it.
    pub async fn start(self) -> TestApp {
        let url = format!(
            "memory://test-{}-{}",
            std::process::id(),
            NEXT_BROKER.fetch_add(1, Ordering::Relaxed)
        );
        let mut vars = self.vars;
        vars.retain(|(k, _)| k != "WORKER_AMQP_URL");
        vars.push(("WORKER_AMQP_URL".to_owned(), url.clone()));
        let config = Config::from_vars(
            vars,
            &MainOptions {
                http: Some("off"),
                ..Default::default()
            },
        )
        .expect("invalid test configuration");
        let routes = self.routes.unwrap_or_else(registry::routes);
        let hooks: Vec<&'static Hook> = if self.hooks {
            registry::hooks()
        } else {
            Vec::new()
        };
        let broker = MemoryBroker::shared(&url);
        for route in &routes {
            if let RouteKind::Amqp { options, .. } = route.kind {
                for q in options.queues {
                    let opts = QueueOptions {
                        quorum: options.quorum,
                        ..QueueOptions::durable()
                    };
                    if !broker.queue_exists(q) {
                        broker
                            .declare_queue(q, opts)
                            .expect("declare a route queue on the test broker");
                    }
                }
            }
        }
        let mut builder = Runtime::builder(config)
            .routes(routes.clone())
            .hooks(hooks)
            .app(self.app.clone())
            .handle_signals(false);
        for service in self.services {
            builder = builder.service(service);
        }
        let runtime = builder.build();
        let stats = runtime.stats().clone();
        let task = tokio::spawn(runtime.run());
        let t = TestApp {
            app: self.app,
            broker,
            stats,
            routes,
            task: Some(task),
        };
        t.wait_ready().await;
        t
    }
}

/// A running application on a private embedded broker.
pub struct TestApp {
    app: App,
    broker: MemoryBroker,
    stats: Arc<StatsRegistry>,
    routes: Vec<&'static Route>,
    task: Option<JoinHandle<Result<(), Error>>>,
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

    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(task) = &self.task {
                assert!(
                    !task.is_finished(),
                    "the application stopped during startup"
                );
            }
            let all = self.routes.iter().all(|r| {
                !matches!(r.kind, RouteKind::Amqp { .. } | RouteKind::Every { .. })
                    || self
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
                let reports: Vec<_> = self
                    .routes
                    .iter()
                    .filter_map(|r| r.amqp())
                    .flat_map(|o| o.queues.iter())
                    .map(|q| (q, self.report(q)))
                    .collect();
                panic!("not idle after {limit:?}: {reports:#?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Outcomes of `queue`, summed over the routes consuming it.
    pub fn report(&self, queue: &str) -> QueueReport {
        let mut r = QueueReport::default();
        for s in self.stats.all() {
            if let Some(c) = s.queues().get(queue) {
                r.settled += *c;
            }
        }
        if let Some(s) = self.broker.stats(queue) {
            r.ready = s.ready as u64;
            r.unacked = s.unacked as u64;
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
