//! [`TestAppBuilder`]: which routes, hooks, variables, queues and services
//! a [`TestApp`] starts with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::TestApp;
use crate::app::App;
use crate::broker::{Binding, QueueOptions};
use crate::config::{Config, MainOptions};
use crate::memory::MemoryBroker;
use crate::registry::{self, Hook, Route, RouteKind};
use crate::runtime::{Runtime, Service};

/// Configures a [`TestApp`].
pub struct TestAppBuilder {
    pub(super) routes: Option<Vec<&'static Route>>,
    pub(super) hooks: bool,
    pub(super) vars: Vec<(String, String)>,
    pub(super) app: App,
    pub(super) services: Vec<Arc<dyn Service>>,
    pub(super) declare: Vec<String>,
    pub(super) log: bool,
}

impl std::fmt::Debug for TestAppBuilder {
    /// The routes served and the variables' names (not their values).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Option<Vec<&str>> = self
            .routes
            .as_ref()
            .map(|r| r.iter().map(|r| r.name).collect());
        let vars: Vec<&str> = self.vars.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("TestAppBuilder")
            .field("routes", &routes)
            .field("hooks", &self.hooks)
            .field("vars", &vars)
            .finish_non_exhaustive()
    }
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

    /// Declares a durable queue on the test broker before the application
    /// starts: a queue the handlers publish to and no route consumes
    /// (another service's), which a test then reads with
    /// [`TestApp::messages`]. The routes' own queues are declared anyway.
    pub fn declare(mut self, queue: &str) -> Self {
        self.declare.push(queue.to_owned());
        self
    }

    /// Whether to write the application's warnings and errors (handler
    /// failures among them) to the test's captured output (default true;
    /// `WORKER_LOG` in the environment sets the filter).
    pub fn log(mut self, yes: bool) -> Self {
        self.log = yes;
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

    /// Declares the routes' queues (and those given to
    /// [`declare`](Self::declare)) on a private embedded broker and starts
    /// the application on it.
    pub async fn start(self) -> TestApp {
        if self.log {
            crate::logging::init_for_tests();
        }
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
        .unwrap_or_else(|e| panic!("invalid test configuration: {e}"));
        let routes = self.routes.unwrap_or_else(registry::routes);
        let hooks: Vec<&'static Hook> = if self.hooks {
            registry::hooks()
        } else {
            Vec::new()
        };
        let broker = MemoryBroker::shared(&url);
        declare_queues(&broker, &routes, &self.declare);
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

/// The amqp routes' queues (as they declare them), their exchanges and
/// bindings, and the extra queues: a test can publish to a route's
/// exchange before the route consumes.
fn declare_queues(broker: &MemoryBroker, routes: &[&'static Route], extra: &[String]) {
    let mut queues: Vec<(&str, QueueOptions)> = Vec::new();
    let mut bindings: Vec<(&str, Binding)> = Vec::new();
    for route in routes {
        if let RouteKind::Amqp { options, .. } = route.kind {
            if let Some(exchange) = options.exchange {
                if broker.exchange_kind(exchange).is_none() {
                    broker
                        .declare_exchange(exchange, options.exchange_type)
                        .unwrap_or_else(|e| {
                            panic!("declare exchange `{exchange}` on the test broker: {e}")
                        });
                }
            }
            // A broadcast route's runtime declares its queue.
            for q in options.shared_queues() {
                queues.push((q, options.declared_queue()));
                bindings.extend(options.queue_bindings().into_iter().map(|b| (*q, b)));
            }
        }
    }
    queues.extend(extra.iter().map(|q| (q.as_str(), QueueOptions::durable())));
    for (q, opts) in queues {
        if !broker.queue_exists(q) {
            broker
                .declare_queue(q, opts)
                .unwrap_or_else(|e| panic!("declare queue `{q}` on the test broker: {e}"));
        }
    }
    for (q, b) in bindings {
        broker
            .bind_with(q, b)
            .unwrap_or_else(|e| panic!("bind queue `{q}` on the test broker: {e}"));
    }
}
