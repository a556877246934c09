//! The conformance suite on the embedded broker, and behaviour specific to
//! it (fault injection, stats, paused-clock expiry, exchanges).

use std::time::Duration;

use tokio::time::{timeout, Instant};

use super::channel::MemoryChannel;
use super::deliveries::MemoryDeliveries;
use super::MemoryBroker;
use crate::broker::ExchangeKind;
use crate::broker::{AmqpValue, Broker, Channel, Deliveries, Delivery, Properties, QueueOptions};
use crate::conformance;
use crate::error::BrokerErrorKind;

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        mod conformance_suite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let broker = MemoryBroker::new();
                    if let Err(e) = conformance::$name(&broker, concat!("conf.", stringify!($name))).await {
                        panic!("{}: {e}", stringify!($name));
                    }
                    assert_eq!(broker.total_unacked(), 0, "the suite left unacked deliveries");
                }
            )*
        }
    };
}

crate::conformance_behaviours!(conformance_tests);

#[tokio::test]
async fn run_all_passes_on_a_shared_broker() {
    let broker = MemoryBroker::shared("memory://conformance-run-all");
    conformance::run_all(&broker, "all").await.unwrap();
}

fn text(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.body).into_owned()
}

async fn next(stream: &mut MemoryDeliveries) -> Delivery {
    match timeout(Duration::from_secs(5), stream.next()).await {
        Ok(Some(Ok(d))) => d,
        other => panic!(
            "expected a delivery, got {:?}",
            other.map(|o| o.map(|r| r.map(|d| text(&d))))
        ),
    }
}

fn publish(broker: &MemoryBroker, queue: &str, bodies: &[&str]) {
    for body in bodies {
        broker
            .publish("", queue, body.as_bytes(), Properties::default())
            .unwrap();
    }
}

async fn consumer(broker: &MemoryBroker, queue: &str) -> (MemoryChannel, MemoryDeliveries) {
    let ch = broker.channel().await.unwrap();
    let stream = ch.consume(&[queue], "test").await.unwrap();
    (ch, stream)
}

#[tokio::test]
async fn drop_connections_redelivers_unacked_and_fails_streams() {
    let broker = MemoryBroker::new();
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    publish(&broker, "q", &["a", "b", "c"]);
    let (ch, mut stream) = consumer(&broker, "q").await;
    let first = next(&mut stream).await;
    let generation = broker.connection_generation();

    broker.drop_connections();
    assert!(!broker.is_connected());
    assert_eq!(broker.connection_generation(), generation + 1);
    match stream.next().await {
        Some(Err(e)) => assert_eq!(e.kind, BrokerErrorKind::Connection, "{e}"),
        other => panic!("expected a connection error, got {other:?}"),
    }
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the error"
    );
    let err = ch.ack(first.tag, false).await.unwrap_err();
    assert_eq!(err.kind, BrokerErrorKind::Connection, "{err}");
    let stats = broker.stats("q").unwrap();
    assert_eq!((stats.ready, stats.unacked, stats.consumers), (3, 0, 0));

    let (ch2, mut stream2) = consumer(&broker, "q").await;
    assert!(broker.is_connected(), "a new channel reconnects");
    let again: Vec<Delivery> = vec![
        next(&mut stream2).await,
        next(&mut stream2).await,
        next(&mut stream2).await,
    ];
    assert_eq!(again.iter().map(text).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert!(
        again.iter().all(|d| d.redelivered),
        "every delivered message was unacked"
    );
    assert_eq!(again[0].tag, 1, "tags restart on a new channel");
    ch2.ack(0, true).await.unwrap();
    assert_eq!(broker.total_unacked(), 0);
}

#[tokio::test]
async fn unknown_or_settled_tag_closes_the_channel() {
    let broker = MemoryBroker::new();
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    publish(&broker, "q", &["a", "b"]);
    let (ch, mut stream) = consumer(&broker, "q").await;
    let a = next(&mut stream).await;
    let b = next(&mut stream).await;
    ch.ack(a.tag, false).await.unwrap();

    let err = ch.ack(a.tag, false).await.unwrap_err();
    assert_eq!(err.kind, BrokerErrorKind::Refused);
    assert!(err.message.contains("unknown delivery tag"), "{err}");
    assert!(!ch.is_open());
    match stream.next().await {
        Some(Err(e)) => assert_eq!(e.kind, BrokerErrorKind::Closed, "{e}"),
        other => panic!("expected a closed-channel error, got {other:?}"),
    }
    assert!(stream.next().await.is_none());
    assert_eq!(
        ch.ack(b.tag, false).await.unwrap_err().kind,
        BrokerErrorKind::Closed
    );
    let stats = broker.stats("q").unwrap();
    assert_eq!((stats.ready, stats.unacked, stats.acked), (1, 0, 1));

    // Unknown tags with `multiple` and nacks are channel errors too.
    let (ch, mut stream) = consumer(&broker, "q").await;
    let b = next(&mut stream).await;
    assert!(b.redelivered);
    let err = ch.nack(b.tag + 5, true, true).await.unwrap_err();
    assert_eq!(err.kind, BrokerErrorKind::Refused);
    assert_eq!(broker.stats("q").unwrap().ready, 1);
}

#[tokio::test]
async fn ack_zero_multiple_settles_everything() {
    let broker = MemoryBroker::new();
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    publish(&broker, "q", &["a", "b", "c"]);
    let (ch, mut stream) = consumer(&broker, "q").await;
    for _ in 0..3 {
        next(&mut stream).await;
    }
    assert_eq!(broker.total_unacked(), 3);
    ch.ack(0, true).await.unwrap();
    assert_eq!(broker.total_unacked(), 0);
    assert_eq!(broker.stats("q").unwrap().acked, 3);
    // Nothing outstanding: tag 0 with multiple is still fine.
    ch.ack(0, true).await.unwrap();
    assert!(ch.is_open());
}

#[tokio::test]
async fn stats_count_every_outcome() {
    let broker = MemoryBroker::new();
    broker
        .declare_queue("dlq", QueueOptions::default())
        .unwrap();
    let options = QueueOptions {
        dead_letter_exchange: Some(String::new()),
        dead_letter_routing_key: Some("dlq".into()),
        ..QueueOptions::default()
    };
    broker.declare_queue("q", options).unwrap();
    publish(&broker, "q", &["ack", "requeue", "reject", "pending"]);
    let (ch, mut stream) = consumer(&broker, "q").await;
    let d: Vec<Delivery> = vec![
        next(&mut stream).await,
        next(&mut stream).await,
        next(&mut stream).await,
        next(&mut stream).await,
    ];
    ch.ack(d[0].tag, false).await.unwrap();
    ch.nack(d[1].tag, false, true).await.unwrap();
    ch.nack(d[2].tag, false, false).await.unwrap();
    let again = next(&mut stream).await;
    assert_eq!(text(&again), "requeue");
    ch.ack(again.tag, false).await.unwrap();

    let stats = broker.stats("q").unwrap();
    let expected = super::QueueStats {
        ready: 0,
        unacked: 1,
        consumers: 1,
        published: 4,
        delivered: 5,
        acked: 2,
        nacked_requeued: 1,
        rejected: 1,
        dead_lettered: 1,
        expired: 0,
    };
    assert_eq!(stats, expected);
    let dlq = broker.stats("dlq").unwrap();
    assert_eq!((dlq.published, dlq.ready), (1, 1));
    assert!(broker.stats("missing").is_none());

    // Rejected without a dead-letter exchange: dropped, not dead-lettered.
    broker
        .declare_queue("plain", QueueOptions::default())
        .unwrap();
    publish(&broker, "plain", &["x"]);
    let (ch, mut stream) = consumer(&broker, "plain").await;
    let x = next(&mut stream).await;
    ch.nack(x.tag, false, false).await.unwrap();
    let plain = broker.stats("plain").unwrap();
    assert_eq!(
        (plain.rejected, plain.dead_lettered, plain.ready),
        (1, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn ttl_dead_letters_on_the_paused_clock_without_activity() {
    let broker = MemoryBroker::new();
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    let delay = QueueOptions {
        message_ttl: Some(Duration::from_secs(1)),
        dead_letter_exchange: Some(String::new()),
        dead_letter_routing_key: Some("q".into()),
        ..QueueOptions::default()
    };
    broker.declare_queue("q.delay.1000", delay).unwrap();
    let (ch, mut stream) = consumer(&broker, "q").await;
    let start = Instant::now();
    publish(&broker, "q.delay.1000", &["retry me"]);
    assert_eq!(broker.pending_delayed(), 1);

    assert!(
        timeout(Duration::from_millis(999), stream.next())
            .await
            .is_err(),
        "delivered before the TTL"
    );
    let d = next(&mut stream).await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(text(&d), "retry me");
    assert_eq!(d.routing_key, "q");
    assert_eq!(broker.pending_delayed(), 0);
    match d.properties.headers.get(super::dead_letter::X_DEATH) {
        Some(AmqpValue::Array(entries)) => match &entries[0] {
            AmqpValue::Table(t) => {
                assert_eq!(t["reason"].as_str(), Some("expired"));
                assert_eq!(t["queue"].as_str(), Some("q.delay.1000"));
                assert_eq!(t["count"].as_int(), Some(1));
            }
            other => panic!("x-death entry: {other:?}"),
        },
        other => panic!("x-death: {other:?}"),
    }
    let stats = broker.stats("q.delay.1000").unwrap();
    assert_eq!((stats.expired, stats.dead_lettered, stats.ready), (1, 1, 0));
    ch.ack(d.tag, false).await.unwrap();

    // Second round through the same delay queue: the count grows.
    broker
        .publish("", "q.delay.1000", d.body.clone(), d.properties.clone())
        .unwrap();
    let d = next(&mut stream).await;
    match d.properties.headers.get(super::dead_letter::X_DEATH) {
        Some(AmqpValue::Array(entries)) => match &entries[0] {
            AmqpValue::Table(t) => assert_eq!(t["count"].as_int(), Some(2)),
            other => panic!("x-death entry: {other:?}"),
        },
        other => panic!("x-death: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn ttl_without_dead_letter_exchange_drops() {
    let broker = MemoryBroker::new();
    let options = QueueOptions {
        message_ttl: Some(Duration::from_millis(500)),
        ..QueueOptions::default()
    };
    broker.declare_queue("short", options).unwrap();
    publish(&broker, "short", &["a", "b"]);
    tokio::time::sleep(Duration::from_millis(499)).await;
    assert_eq!(broker.stats("short").unwrap().ready, 2);
    tokio::time::sleep(Duration::from_millis(2)).await;
    let stats = broker.stats("short").unwrap();
    assert_eq!((stats.ready, stats.expired, stats.dead_lettered), (0, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn per_message_expiration() {
    let broker = MemoryBroker::new();
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    let properties = Properties {
        expiration: Some("100".into()),
        ..Properties::default()
    };
    broker.publish("", "q", b"x".to_vec(), properties).unwrap();
    tokio::time::sleep(Duration::from_millis(101)).await;
    let stats = broker.stats("q").unwrap();
    assert_eq!((stats.ready, stats.expired), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn expiry_cycle_is_dropped() {
    let broker = MemoryBroker::new();
    let options = QueueOptions {
        message_ttl: Some(Duration::from_millis(10)),
        dead_letter_exchange: Some(String::new()),
        ..QueueOptions::default()
    };
    broker.declare_queue("loop", options).unwrap();
    publish(&broker, "loop", &["x"]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stats = broker.stats("loop").unwrap();
    assert_eq!((stats.ready, stats.expired, stats.published), (0, 1, 1));
}

#[tokio::test]
async fn exchanges_route_by_kind() {
    let broker = MemoryBroker::new();
    for q in ["all", "a_star", "a_hash", "exact", "direct", "fan1", "fan2"] {
        broker.declare_queue(q, QueueOptions::default()).unwrap();
    }
    broker
        .declare_exchange("events", ExchangeKind::Topic)
        .unwrap();
    broker.bind("all", "events", "#").unwrap();
    broker.bind("a_star", "events", "a.*").unwrap();
    broker.bind("a_hash", "events", "a.#").unwrap();
    broker.bind("exact", "events", "a.b").unwrap();
    broker.bind("exact", "events", "a.b").unwrap(); // idempotent
    for key in ["a", "a.b", "a.b.c", "x.y"] {
        broker
            .publish("events", key, key.as_bytes(), Properties::default())
            .unwrap();
    }
    let ready = |q: &str| broker.stats(q).unwrap().ready;
    assert_eq!(ready("all"), 4);
    assert_eq!(ready("a_star"), 1);
    assert_eq!(ready("a_hash"), 3);
    assert_eq!(ready("exact"), 1);

    broker
        .declare_exchange("direct", ExchangeKind::Direct)
        .unwrap();
    broker.bind("direct", "direct", "k").unwrap();
    broker
        .publish("direct", "k", "1", Properties::default())
        .unwrap();
    let err = broker
        .publish("direct", "other", "2", Properties::default())
        .unwrap_err();
    assert_eq!(err.kind, BrokerErrorKind::Unroutable, "{err}");
    assert_eq!(ready("direct"), 1);

    broker
        .declare_exchange("fan", ExchangeKind::Fanout)
        .unwrap();
    broker.bind("fan1", "fan", "ignored").unwrap();
    broker.bind("fan2", "fan", "").unwrap();
    broker
        .publish("fan", "whatever", "x", Properties::default())
        .unwrap();
    assert_eq!((ready("fan1"), ready("fan2")), (1, 1));

    let (_ch, mut stream) = consumer(&broker, "exact").await;
    let d = next(&mut stream).await;
    assert_eq!(
        (d.exchange.as_str(), d.routing_key.as_str()),
        ("events", "a.b")
    );

    // Errors: missing exchange, kind mismatch, default exchange.
    let err = broker
        .publish("nope", "k", "x", Properties::default())
        .unwrap_err();
    assert_eq!(err.kind, BrokerErrorKind::Refused);
    let err = broker
        .declare_exchange("fan", ExchangeKind::Topic)
        .unwrap_err();
    assert_eq!(err.kind, BrokerErrorKind::Refused);
    assert!(broker.bind("fan1", "", "k").is_err());
    assert_eq!(
        broker.bind("missing", "fan", "").unwrap_err().kind,
        BrokerErrorKind::QueueNotFound
    );
    // Unroutable through the default exchange: an error, nothing stored.
    let err = broker
        .publish("", "missing", "x", Properties::default())
        .unwrap_err();
    assert_eq!(err.kind, BrokerErrorKind::Unroutable, "{err}");
    assert!(broker.stats("missing").is_none());
}

#[tokio::test]
async fn delete_queue_ends_its_consumers() {
    let broker = MemoryBroker::new();
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    publish(&broker, "q", &["a", "b"]);
    let (ch, mut stream) = consumer(&broker, "q").await;
    let a = next(&mut stream).await;
    let _b = next(&mut stream).await;
    assert!(broker.delete_queue("q"));
    assert!(!broker.queue_exists("q"));
    assert!(!broker.delete_queue("q"));
    match stream.next().await {
        Some(Err(e)) => assert_eq!(e.kind, BrokerErrorKind::QueueNotFound, "{e}"),
        other => panic!("expected a queue-deleted error, got {other:?}"),
    }
    assert!(stream.next().await.is_none());
    // Deliveries of the deleted queue can still be settled; requeued ones vanish.
    ch.ack(a.tag, false).await.unwrap();
    ch.close().await;
    assert_eq!(broker.total_unacked(), 0);
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    assert_eq!(
        broker.stats("q").unwrap().ready,
        0,
        "a re-created queue starts empty"
    );
}

#[tokio::test]
async fn redeclare_with_other_options_is_refused() {
    let broker = MemoryBroker::new();
    let ttl = QueueOptions {
        message_ttl: Some(Duration::from_secs(1)),
        ..QueueOptions::default()
    };
    broker.declare_queue("q", ttl.clone()).unwrap();
    broker.declare_queue("q", ttl).unwrap();
    let err = broker
        .declare_queue("q", QueueOptions::default())
        .unwrap_err();
    assert_eq!(err.kind, BrokerErrorKind::Refused);
    assert!(err.message.contains("PRECONDITION_FAILED"), "{err}");
}

#[tokio::test]
async fn consumers_get_messages_round_robin_within_their_windows() {
    let broker = MemoryBroker::new();
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    let (ch1, mut s1) = consumer(&broker, "q").await;
    let (ch2, mut s2) = consumer(&broker, "q").await;
    ch2.qos(1).await.unwrap();
    publish(&broker, "q", &["0", "1", "2", "3"]);
    assert_eq!(text(&next(&mut s1).await), "0");
    let one = next(&mut s2).await;
    assert_eq!(text(&one), "1");
    // ch2's window is full: the rest go to ch1.
    assert_eq!(text(&next(&mut s1).await), "2");
    assert_eq!(text(&next(&mut s1).await), "3");
    ch2.ack(one.tag, false).await.unwrap();
    publish(&broker, "q", &["4", "5"]);
    assert_eq!(text(&next(&mut s2).await), "4");
    assert_eq!(text(&next(&mut s1).await), "5");
    assert_eq!(broker.stats("q").unwrap().consumers, 2);
    drop(ch1);
    assert_eq!(broker.stats("q").unwrap().consumers, 1);
}

#[tokio::test]
async fn dropping_a_channel_returns_its_unacked() {
    let broker = MemoryBroker::new();
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    publish(&broker, "q", &["a", "b"]);
    let (ch, mut stream) = consumer(&broker, "q").await;
    next(&mut stream).await;
    next(&mut stream).await;
    let clone = ch.clone();
    drop(ch);
    assert_eq!(broker.total_unacked(), 2, "a clone keeps the channel open");
    drop(clone);
    assert_eq!(broker.total_unacked(), 0);
    assert_eq!(broker.stats("q").unwrap().ready, 2);
    assert!(
        stream.next().await.is_none(),
        "a closed channel's stream ends"
    );
    assert_eq!(broker.open_channels(), 0);
}

#[tokio::test]
async fn failed_connects_then_reconnect() {
    let broker = MemoryBroker::new();
    broker.set_fail_connect(2);
    for _ in 0..2 {
        let err = broker.channel().await.unwrap_err();
        assert_eq!(err.kind, BrokerErrorKind::Connection);
        assert!(!broker.is_connected());
    }
    broker.channel().await.unwrap();
    assert!(broker.is_connected());
}

#[tokio::test]
async fn shared_brokers_are_keyed_by_url() {
    let a = MemoryBroker::shared("memory://tests-shared-a");
    let again = MemoryBroker::shared("memory://tests-shared-a");
    let b = MemoryBroker::shared("memory://tests-shared-b");
    assert!(a.same_broker(&again));
    assert!(!a.same_broker(&b));
    a.declare_queue("only-in-a", QueueOptions::default())
        .unwrap();
    assert!(again.queue_exists("only-in-a"));
    assert!(!b.queue_exists("only-in-a"));
    assert_eq!(a.describe(), "memory://tests-shared-a");
}

#[tokio::test]
async fn broker_close_ends_streams_and_requeues() {
    let broker = MemoryBroker::new();
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    publish(&broker, "q", &["a"]);
    let (ch, mut stream) = consumer(&broker, "q").await;
    let a = next(&mut stream).await;
    broker.close().await;
    assert!(
        stream.next().await.is_none(),
        "a graceful close ends without error"
    );
    assert_eq!(
        ch.ack(a.tag, false).await.unwrap_err().kind,
        BrokerErrorKind::Closed
    );
    assert_eq!(broker.stats("q").unwrap().ready, 1);
}

#[tokio::test]
async fn purge_and_consume_several_queues() {
    let broker = MemoryBroker::new();
    broker.declare_queue("a", QueueOptions::default()).unwrap();
    broker.declare_queue("b", QueueOptions::default()).unwrap();
    publish(&broker, "a", &["1", "2"]);
    assert_eq!(broker.purge("a").unwrap(), 2);
    assert_eq!(
        broker.purge("missing").unwrap_err().kind,
        BrokerErrorKind::QueueNotFound
    );
    let ch = broker.channel().await.unwrap();
    let mut stream = ch.consume(&["a", "b"], "t").await.unwrap();
    publish(&broker, "b", &["b"]);
    publish(&broker, "a", &["a"]);
    let first = next(&mut stream).await;
    let second = next(&mut stream).await;
    assert_eq!((&*first.queue, &*second.queue), ("b", "a"));
    assert!(first.tag < second.tag);
    // Deleting one of the queues reports it but keeps the stream alive.
    broker.delete_queue("a");
    assert_eq!(
        stream.next().await.unwrap().unwrap_err().kind,
        BrokerErrorKind::QueueNotFound
    );
    publish(&broker, "b", &["still"]);
    assert_eq!(text(&next(&mut stream).await), "still");
}

#[tokio::test]
async fn a_bounded_queue_refuses_publishes_and_its_consumer_frees_room() {
    let broker = MemoryBroker::shared("memory://bounded-test");
    broker.declare_queue("q", QueueOptions::default()).unwrap();
    broker
        .declare_queue("other", QueueOptions::default())
        .unwrap();
    broker.set_max_length(Some(2));
    publish(&broker, "q", &["a", "b"]);
    let e = broker
        .publish("", "q", b"c".to_vec(), Properties::default())
        .unwrap_err();
    assert_eq!(e.kind, BrokerErrorKind::NotConfirmed);
    assert!(e.message.contains("WORKER_MEMORY_MAX_LENGTH"), "{e}");
    // Other queues are not affected.
    publish(&broker, "other", &["x"]);
    // A delivery leaves the ready messages: room for one more.
    let (ch, mut stream) = consumer(&broker, "q").await;
    let d = next(&mut stream).await;
    assert_eq!(text(&d), "a");
    publish(&broker, "q", &["c"]);
    // A requeue is never refused, even past the bound.
    ch.reject(d.tag, true).await.unwrap();
    let s = broker.stats("q").unwrap();
    assert_eq!(s.ready + s.unacked, 3, "{s:?}");
    // The gauge's view: every queue of the process-wide brokers.
    let url = "memory://bounded-test".to_owned();
    let depths = MemoryBroker::shared_depths();
    assert!(
        depths.contains(&(url.clone(), "other".to_owned(), 1, 0)),
        "{depths:?}"
    );
    assert!(
        depths.contains(&(url, "q".to_owned(), s.ready, s.unacked)),
        "{depths:?}"
    );
    broker.set_max_length(None);
    publish(&broker, "q", &["d"]);
}
