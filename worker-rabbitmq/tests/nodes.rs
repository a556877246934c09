//! A URL listing several nodes against the real RabbitMQ: the worker
//! connects to a node that answers whatever the order, names every node's
//! failure when none does, never prints a password, and `probe_nodes`
//! (what `check` reports) says which node is reachable. The live node is
//! the test broker; the dead ones are closed ports on loopback.

use worker_core::backend::broker::{Broker, Channel, QueueOptions};
use worker_core::backend::error::BrokerErrorKind;
use worker_rabbitmq::{RabbitBroker, RabbitOptions};
use worker_testkit::amqp_url;

/// A node nobody listens on (connection refused at once).
const DEAD: &str = "amqp://guest:n0de-secret@127.0.0.1:1/%2f";
const DEAD_2: &str = "amqp://guest:n0de-secret@127.0.0.1:2/%2f";

fn masked(url: &str) -> String {
    worker_core::rules::url::mask_url(url)
}

#[tokio::test]
async fn a_dead_node_in_the_list_is_skipped_whatever_the_order() {
    let live = amqp_url();
    for round in 0..8 {
        // Both orders of the list, several times: the attempt order is
        // shuffled, so the dead node comes first in some of these.
        let list = if round % 2 == 0 {
            format!("{DEAD}, {live}")
        } else {
            format!("{live},{DEAD}")
        };
        let broker = RabbitBroker::new(&list, RabbitOptions::named("test-nodes")).unwrap();
        // Before the first connection: every node, as listed, masked.
        let (first, second) = if round % 2 == 0 {
            (DEAD, live.as_str())
        } else {
            (live.as_str(), DEAD)
        };
        assert_eq!(
            broker.describe(),
            format!("{},{}", masked(first), masked(second))
        );
        let ch = broker.channel().await.expect("the live node serves");
        ch.declare_queue("worker-nodes.q", &QueueOptions::durable())
            .await
            .unwrap();
        assert_eq!(broker.describe(), masked(&live), "names the node in use");
        assert!(broker.is_connected());
        ch.close().await;
        broker.close().await;
    }
}

#[tokio::test]
async fn no_node_answering_names_each_failure_without_passwords() {
    let broker = RabbitBroker::new(&format!("{DEAD},{DEAD_2}"), RabbitOptions::default()).unwrap();
    let e = broker.channel().await.unwrap_err();
    assert_eq!(e.kind(), BrokerErrorKind::Connection);
    assert!(e.message().contains("any of the 2 nodes"), "{e}");
    assert!(
        e.message().contains("127.0.0.1:1") && e.message().contains("127.0.0.1:2"),
        "{e}"
    );
    assert!(!e.message().contains("n0de-secret"), "{e}");
    assert!(!format!("{broker:?}").contains("n0de-secret"));
    assert!(!broker.describe().contains("n0de-secret"));
}

#[tokio::test]
async fn probe_reports_each_node_in_list_order() {
    let live = amqp_url();
    let broker = RabbitBroker::new(&format!("{DEAD},{live}"), RabbitOptions::default()).unwrap();
    let found = Broker::probe_nodes(&broker).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].0, masked(DEAD));
    assert!(found[0].1.is_err());
    assert_eq!(found[1].0, masked(&live));
    assert!(found[1].1.is_ok(), "{:?}", found[1].1);
    // One node: nothing to report beyond the connection itself.
    let single = RabbitBroker::new(&live, RabbitOptions::default()).unwrap();
    assert!(Broker::probe_nodes(&single).await.is_empty());
}

#[test]
fn a_bad_list_is_refused_before_connecting() {
    for bad in [
        format!("{DEAD},"),
        format!("{DEAD},memory://"),
        format!("{DEAD},127.0.0.1:5672"),
    ] {
        let e = RabbitBroker::new(&bad, RabbitOptions::default()).unwrap_err();
        assert!(!e.message().contains("n0de-secret"), "{e}");
        assert!(e.message().contains("node 2 of 2"), "{bad}: {e}");
    }
}

#[tokio::test]
async fn the_connection_name_says_which_node() {
    let live = amqp_url();
    let name = format!("test-nodes-name-{}", std::process::id());
    let broker = RabbitBroker::new(
        &format!("{DEAD},{live}"),
        RabbitOptions::named(name.as_str()),
    )
    .unwrap();
    let _ch = broker.channel().await.unwrap();
    // `amqp://user:pass@host:port/vhost` -> `host:port`.
    let host_port = live
        .rsplit_once('@')
        .map_or(live.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let listing = worker_testkit::rabbitmqctl(&["-q", "list_connections", "client_properties"]);
    let expected = format!("\"{name} {host_port}\"");
    assert!(listing.contains(&expected), "{expected} not in:\n{listing}");
    broker.close().await;
}
