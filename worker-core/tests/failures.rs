//! Batches that fail, on the embedded broker: the scenarios of
//! `worker_testkit::failures` (the same ones run on RabbitMQ).

use worker_core::backend::broker::{Channel, Deliveries};
use worker_core::backend::metrics::OutcomeCounts;
use worker_core::testing::TestApp;
use worker_testkit::failures::Harness;

struct Memory(TestApp);

impl Harness for Memory {
    async fn start(routes: &[&'static str], _extra: &[&str]) -> Self {
        let mut b = TestApp::builder().hooks(false);
        for r in routes {
            b = b.route(r);
        }
        Memory(b.start().await)
    }

    async fn publish(&self, queue: &str, body: serde_json::Value) {
        self.0.publish(queue, &body).await;
    }

    fn outcomes(&self, queue: &str) -> OutcomeCounts {
        self.0.report(queue).settled
    }

    async fn drain_ids(&self, queue: &str) -> Vec<u64> {
        use worker_core::backend::broker::Broker;
        let ch = self.0.broker().channel().await.unwrap();
        let mut d = ch.consume(&[queue], "drain").await.unwrap();
        let mut ids = Vec::new();
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(std::time::Duration::from_millis(100), d.next()).await
        {
            let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
            ids.push(v["id"].as_u64().unwrap());
            ch.ack(m.tag, false).await.unwrap();
        }
        ch.close().await;
        ids
    }

    fn timeouts(&self, route: &str) -> u64 {
        self.0
            .stats()
            .route(route, "amqp")
            .timeouts
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn stop(self) {
        self.0.shutdown().await.unwrap();
    }
}

worker_testkit::failure_scenarios!(Memory);
