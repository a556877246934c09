//! `cron` routes on the embedded broker and tokio's paused clock: a
//! `singleton = true` route run by two runtimes that share one broker
//! fires each slot in exactly one of them, and the other takes over when
//! the first stops.

use std::sync::Arc;
use std::time::Duration;

use worker_core::metrics::StatsRegistry;
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
        worker_core::memory::MemoryBroker::shared(&m.0).set_fail_connect(u32::MAX);
        m
    }

    async fn heal(&self) {
        worker_core::memory::MemoryBroker::shared(&self.0).set_fail_connect(0);
    }

    fn url(&self) -> String {
        self.0.clone()
    }

    fn connector(&self) -> Arc<dyn worker_core::runtime::Connector> {
        Arc::new(worker_core::memory::MemoryConnector)
    }
}

worker_testkit::cron_scenarios!(Memory);
