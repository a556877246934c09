//! `single_active = true` on the embedded broker: two worker runtimes in
//! one process share a broker (`memory://` URLs name one broker per
//! process); one consumes, the other stands by (ready, listed as
//! standby), and takes over when the first shuts down, with nothing lost.

use std::sync::Arc;
use std::time::Duration;

use worker_core::backend::memory::MemoryBroker;
use worker_core::backend::metrics::{RouteStats, StatsRegistry};
use worker_core::{App, Message, Properties};
use worker_macros::route;

const URL: &str = "memory://single-active";
const WAIT: Duration = Duration::from_secs(10);

#[route(amqp, crate = "worker_core", queues = ["sac.jobs"], bulk_size = 10,
        bulk_flush_interval = "20ms", declare = true, single_active = true)]
async fn sole(_msgs: Vec<Message<u64>>) {}

struct Worker {
    app: App,
    stats: Arc<StatsRegistry>,
    task: tokio::task::JoinHandle<Result<(), worker_core::Error>>,
}

impl Worker {
    async fn start() -> Worker {
        let app = App::new();
        let runtime = worker_testkit::runtime(&["sole"], [("WORKER_AMQP_URL", URL)])
            .app(app.clone())
            .build();
        let stats = runtime.stats().clone();
        let task = tokio::spawn(runtime.run());
        let route = stats.route("sole", "amqp");
        worker_testkit::wait_until("the route to subscribe", WAIT, || route.is_ready()).await;
        Worker { app, stats, task }
    }

    fn route(&self) -> Arc<RouteStats> {
        self.stats.route("sole", "amqp")
    }

    fn acked(&self) -> u64 {
        self.route().queues().get("sac.jobs").map_or(0, |c| c.acked)
    }

    async fn stop(self) {
        self.app.shutdown();
        self.task.await.unwrap().unwrap();
    }
}

fn publish(broker: &MemoryBroker, ids: std::ops::Range<u64>) {
    for i in ids {
        broker
            .publish("", "sac.jobs", i.to_string(), Properties::default())
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_runtime_consumes_and_the_other_takes_over() {
    let broker = MemoryBroker::shared(URL);
    let first = Worker::start().await;
    let second = Worker::start().await;
    // Active before any delivery: the broker names the active consumer.
    worker_testkit::wait_until("the first to be active", WAIT, || {
        !first.route().is_standby()
    })
    .await;
    assert!(second.route().is_standby(), "the second stands by");
    assert!(second.route().is_ready(), "standing by is ready");

    publish(&broker, 0..100);
    worker_testkit::wait_until("100 acked by the first", WAIT, || first.acked() == 100).await;
    assert_eq!(second.acked(), 0, "the standby got nothing");
    assert!(second.route().is_standby());

    first.stop().await;
    worker_testkit::wait_until("the second to take over", WAIT, || {
        !second.route().is_standby()
    })
    .await;
    publish(&broker, 100..200);
    worker_testkit::wait_until("100 acked by the second", WAIT, || second.acked() == 100).await;
    let stats = broker.stats("sac.jobs").unwrap();
    assert_eq!((stats.ready, stats.unacked), (0, 0), "{stats:?}");
    second.stop().await;
}
