//! `cron` routes on the embedded broker and tokio's paused clock: a
//! `singleton = true` route run by two runtimes that share one broker
//! fires each slot in exactly one of them, and the other takes over when
//! the first stops.

use std::sync::Arc;
use std::time::Duration;

use worker_core::backend::metrics::StatsRegistry;
use worker_core::App;
use worker_macros::route;

const URL: &str = "memory://cron-singleton";

#[route(
    cron,
    crate = "worker_core",
    schedule = "* * * * * *",
    singleton = true
)]
async fn every_second() {}

struct Process {
    app: App,
    stats: Arc<StatsRegistry>,
    task: tokio::task::JoinHandle<Result<(), worker_core::Error>>,
}

impl Process {
    fn start() -> Process {
        let app = App::new();
        let runtime = worker_testkit::runtime(&["every_second"], [("WORKER_AMQP_URL", URL)])
            .app(app.clone())
            .build();
        let stats = runtime.stats().clone();
        let task = tokio::spawn(runtime.run());
        Process { app, stats, task }
    }

    fn runs(&self) -> u64 {
        self.stats
            .route("every_second", "cron")
            .runs
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn stop(self) {
        self.app.shutdown();
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn one_of_two_processes_fires_each_slot_and_the_other_takes_over() {
    let first = Process::start();
    let second = Process::start();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (a, b) = (first.runs(), second.runs());
    assert!(
        (a == 0) != (b == 0),
        "exactly one process fires: {a} and {b} runs"
    );
    assert!(
        (9..=10).contains(&(a + b)),
        "10 slots, each once: {a} + {b}"
    );
    let (holder, other, other_before) = if a > 0 {
        (first, second, b)
    } else {
        (second, first, a)
    };
    let held = holder.runs();
    holder.stop().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let taken = other.runs() - other_before;
    assert!(
        (8..=10).contains(&taken),
        "the other process fires the next slots: {taken} of 10 (the first had {held})"
    );
    other.stop().await;
}

/// The embedded broker of the cron scenarios: a broker of its own per
/// test, made unreachable with its connection fault.
struct Memory(String);

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Memory {
    fn fresh() -> Memory {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Memory(format!("memory://cron-scenario-{n}"))
    }
}

impl worker_testkit::cron::CronHarness for Memory {
    async fn up() -> Self {
        Memory::fresh()
    }

    async fn down() -> Self {
        let m = Memory::fresh();
        worker_core::backend::memory::MemoryBroker::shared(&m.0).set_fail_connect(u32::MAX);
        m
    }

    async fn heal(&self) {
        worker_core::backend::memory::MemoryBroker::shared(&self.0).set_fail_connect(0);
    }

    fn url(&self) -> String {
        self.0.clone()
    }

    fn connector(&self) -> Arc<dyn worker_core::backend::runtime::Connector> {
        Arc::new(worker_core::backend::memory::MemoryConnector)
    }
}

worker_testkit::cron_scenarios!(Memory);

/// A backend whose broker keeps no locks: its connections implement
/// `Connection` alone (here by delegating to the embedded broker's).
struct NoLocks;

struct NoLocksConnection(Arc<dyn worker_core::backend::runtime::Connection>);

impl worker_core::backend::runtime::Connector for NoLocks {
    fn schemes(&self) -> &'static [&'static str] {
        // Replaces the embedded broker's connector (the last added wins).
        &["memory"]
    }

    fn connect(
        &self,
        name: &str,
        _url: &str,
    ) -> Result<Arc<dyn worker_core::backend::runtime::Connection>, worker_core::Error> {
        let inner =
            worker_core::backend::memory::MemoryConnector.connect(name, "memory://nolocks")?;
        Ok(Arc::new(NoLocksConnection(inner)))
    }
}

impl worker_core::backend::runtime::Connection for NoLocksConnection {
    fn describe(&self) -> String {
        "nolocks://broker".into()
    }
    fn spawn_consumer(
        &self,
        spec: worker_core::backend::batch::ConsumerSpec,
    ) -> tokio::task::JoinHandle<()> {
        self.0.spawn_consumer(spec)
    }
    fn publisher(&self) -> Arc<dyn worker_core::backend::app::PublishSink> {
        self.0.publisher()
    }
    fn check_queues<'a>(
        &'a self,
        queues: &'a [&'a str],
    ) -> worker_core::backend::future::BoxFuture<'a, Result<(), worker_core::BrokerError>> {
        self.0.check_queues(queues)
    }
    fn is_connected(&self) -> bool {
        self.0.is_connected()
    }
    fn close(&self) -> worker_core::backend::future::BoxFuture<'_, ()> {
        self.0.close()
    }
    fn inspect_queue<'a>(
        &'a self,
        queue: &'a str,
    ) -> worker_core::backend::future::BoxFuture<
        'a,
        Result<Option<worker_core::backend::broker::Inspected>, worker_core::BrokerError>,
    > {
        self.0.inspect_queue(queue)
    }
}

/// A `singleton` route on a connection that cannot hold its lock is
/// refused at startup, with the route and the connection named, instead of
/// running in every process.
#[tokio::test]
async fn a_singleton_on_a_broker_without_locks_is_refused() {
    let runtime =
        worker_testkit::runtime(&["every_second"], [("WORKER_AMQP_URL", "memory://nolocks")])
            .connector(Arc::new(NoLocks))
            .build();
    let e = runtime.run().await.expect_err("refused");
    let shown = e.to_string();
    assert!(shown.contains("route `every_second`"), "{shown}");
    assert!(
        shown.contains("connection `default` (nolocks://broker) cannot hold them"),
        "{shown}"
    );
}
