//! Startup on RabbitMQ: a `declare_queue!` and a startup hook wait for a
//! broker that comes up 5 s late (its port opens then: a forwarder to the
//! test broker), and the routes start once it answers.

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use worker_core::{App, Error, Message};
use worker_macros::{on_startup, route};
use worker_rabbitmq::RabbitConnector;
use worker_testkit::{amqp_url, free_local_addr, late_tcp_proxy, rabbitmqctl};

worker_macros::declare_queue!("worker-startup.declared", crate = "worker_core");

#[on_startup(crate = "worker_core")]
async fn declare_outbox(app: App) -> Result<(), Error> {
    app.publisher()?
        .declare_queue("worker-startup.outbox")
        .await
}

#[route(amqp, crate = "worker_core", queues = ["worker-startup.in"], declare = true)]
async fn rs_in(_msgs: Vec<Message>) {}

/// The test broker's address, from its URL.
fn broker_addr() -> std::net::SocketAddr {
    let url = amqp_url();
    let host = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("amqp://user:password@host:port/vhost");
    host.to_socket_addrs().unwrap().next().unwrap()
}

fn queues() -> String {
    rabbitmqctl(&["-q", "list_queues", "name"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_hook_and_a_declaration_wait_for_a_broker_that_comes_up_5_s_late() {
    for q in ["worker-startup.declared", "worker-startup.outbox"] {
        let _ = worker_testkit::rabbitmqctl_output(&["delete_queue", q]);
    }
    let listen = free_local_addr();
    let started = tokio::time::Instant::now();
    let proxy = late_tcp_proxy(listen, broker_addr(), Duration::from_secs(5));
    let url = format!("amqp://guest:guest@{listen}/%2f");
    let hook = worker_core::backend::registry::hooks()
        .into_iter()
        .find(|h| h.name == "declare_outbox")
        .unwrap();
    let runtime = worker_testkit::runtime(&["rs_in"], [("WORKER_AMQP_URL", url)])
        .hooks(vec![hook])
        .connector(Arc::new(RabbitConnector))
        .build();
    let app = runtime.app().clone();
    let stats = runtime.stats().clone();
    let task = tokio::spawn(runtime.run());
    // The broker is listed 2 s in, well before its port opens at 5 s:
    // rabbitmqctl itself takes a second or more on a loaded machine.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!queues().contains("worker-startup.outbox"));
    tokio::time::sleep_until(started + Duration::from_secs(4)).await;
    assert!(!task.is_finished(), "startup waits instead of failing");
    assert!(!app.is_started());
    tokio::time::timeout(Duration::from_secs(20), app.started())
        .await
        .expect("started once the broker answers");
    let listed = queues();
    assert!(listed.contains("worker-startup.declared"), "{listed}");
    assert!(listed.contains("worker-startup.outbox"), "{listed}");
    worker_testkit::wait_until("the route to consume", Duration::from_secs(20), || {
        stats.route("rs_in", "amqp").is_ready()
    })
    .await;
    app.shutdown();
    task.await.unwrap().unwrap();
    proxy.abort();
}
