//! Cron routes that keep state on RabbitMQ: the scenarios of
//! `worker_testkit::cron` (the same ones run on the embedded broker). Each
//! test has a vhost of its own; a broker that does not answer is a vhost
//! that does not exist yet (the connection is refused), healed by
//! creating it.

use std::sync::Arc;

use worker_core::backend::runtime::Connector;
use worker_rabbitmq::RabbitConnector;
use worker_testkit::{amqp_url, rabbitmqctl, rabbitmqctl_output};

struct Rabbit(String);

fn vhost_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("worker-cron-{}-{n}", std::process::id())
}

fn create(vhost: &str) {
    rabbitmqctl(&["add_vhost", vhost]);
    rabbitmqctl(&["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]);
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        let _ = rabbitmqctl_output(&["delete_vhost", &self.0]);
    }
}

impl worker_testkit::cron::CronHarness for Rabbit {
    async fn up() -> Self {
        let vhost = vhost_name();
        create(&vhost);
        Rabbit(vhost)
    }

    async fn down() -> Self {
        Rabbit(vhost_name())
    }

    async fn heal(&self) {
        create(&self.0);
    }

    fn url(&self) -> String {
        worker_core::rules::url::with_vhost(&amqp_url(), &self.0)
    }

    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(RabbitConnector)
    }
}

worker_testkit::cron_scenarios!(Rabbit);
