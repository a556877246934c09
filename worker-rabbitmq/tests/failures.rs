//! Batches that fail, on RabbitMQ: the scenarios of
//! `worker_testkit::failures` (the same ones run on the embedded broker).

use std::sync::Arc;
use std::time::Duration;

use worker_core::backend::broker::{Broker, Channel, Deliveries, Properties};
use worker_core::backend::metrics::{OutcomeCounts, StatsRegistry};
use worker_core::{App, Error};
use worker_rabbitmq::{RabbitBroker, RabbitChannel, RabbitConnector, RabbitOptions};
use worker_testkit::amqp_url;
use worker_testkit::failures::Harness;

struct Rabbit {
    app: App,
    stats: Arc<StatsRegistry>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
    _admin: RabbitBroker,
    channel: RabbitChannel,
}

/// Deletes `queues` if they exist (leftovers of an earlier run).
async fn delete_queues(queues: &[&str]) {
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ is reachable (scripts/rabbitmq start)");
    let channel = connection.create_channel().await.unwrap();
    for queue in queues {
        let _ = channel
            .queue_delete(
                (*queue).into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await;
    }
    let _ = connection.close(200, "bye".into()).await;
}

impl Harness for Rabbit {
    async fn start(routes: &[&'static str], extra: &[&str]) -> Self {
        let records = worker_testkit::registered(routes);
        let mut queues: Vec<&str> = records
            .iter()
            .flat_map(|r| r.amqp().unwrap().queues.iter().copied())
            .collect();
        queues.extend_from_slice(extra);
        delete_queues(&queues).await;
        let app = App::new();
        let runtime = worker_testkit::runtime(routes, [("WORKER_AMQP_URL", amqp_url())])
            .connector(Arc::new(RabbitConnector))
            .app(app.clone())
            .build();
        let stats = runtime.stats().clone();
        let task = tokio::spawn(runtime.run());
        // Ready: every route consumes (its queues are declared by then).
        worker_testkit::wait_until("the routes to consume", Duration::from_secs(20), || {
            routes.iter().all(|r| stats.route(r, "amqp").is_ready())
        })
        .await;
        let admin =
            RabbitBroker::new(&amqp_url(), RabbitOptions::named("failures-test-admin")).unwrap();
        let channel = admin.channel().await.unwrap();
        Rabbit {
            app,
            stats,
            task,
            _admin: admin,
            channel,
        }
    }

    async fn publish(&self, queue: &str, body: serde_json::Value) {
        let body = serde_json::to_vec(&body).unwrap();
        self.channel
            .publish("", queue, &body, &Properties::default())
            .await
            .unwrap_or_else(|e| panic!("publish to `{queue}`: {e}"));
    }

    fn outcomes(&self, queue: &str) -> OutcomeCounts {
        let mut total = OutcomeCounts::default();
        for s in self.stats.all() {
            if let Some(c) = s.queues().get(queue) {
                total += *c;
            }
        }
        total
    }

    async fn drain_ids(&self, queue: &str) -> Vec<u64> {
        let mut d = self.channel.consume(&[queue], "drain").await.unwrap();
        let mut ids = Vec::new();
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(300), d.next()).await
        {
            let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
            ids.push(v["id"].as_u64().unwrap());
            self.channel.ack(m.tag, false).await.unwrap();
        }
        self.channel.cancel().await.unwrap();
        ids
    }

    fn timeouts(&self, route: &str) -> u64 {
        self.stats
            .route(route, "amqp")
            .timeouts
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn stop(self) {
        self.app.shutdown();
        self.task.await.unwrap().unwrap();
        self.channel.close().await;
    }
}

worker_testkit::failure_scenarios!(Rabbit);
