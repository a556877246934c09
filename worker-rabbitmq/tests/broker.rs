//! `RabbitBroker` against a real RabbitMQ server.
//!
//! Start one with `scripts/rabbitmq start`; the URL comes from
//! `WORKER_TEST_AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`).
//! These tests fail, not skip, when the server is unreachable.
//!
//! Queue names include the process id so that runs never share state; every
//! test deletes its queues at the end.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use worker_core::backend::broker::{AmqpValue, Delivery, Headers, Properties};
use worker_core::backend::broker::{Broker, Channel, Deliveries, QueueOptions};
use worker_core::backend::error::BrokerErrorKind;
use worker_rabbitmq::{RabbitBroker, RabbitChannel, RabbitDeliveries, RabbitOptions};
use worker_testkit::rabbitmqctl;

const WAIT: Duration = Duration::from_secs(10);

use worker_testkit::amqp_url as url;

fn unique(name: &str) -> String {
    format!("worker-rabbitmq-test.{}.{name}", std::process::id())
}

fn broker(name: &str) -> RabbitBroker {
    RabbitBroker::new(&url(), RabbitOptions::named(unique(name))).expect("valid test URL")
}

async fn channel(broker: &RabbitBroker) -> RabbitChannel {
    match broker.channel().await {
        Ok(channel) => channel,
        Err(e) => panic!(
            "cannot reach RabbitMQ at `{}` (set WORKER_TEST_AMQP_URL or run `scripts/rabbitmq start`): {e}",
            broker.describe()
        ),
    }
}

/// Raw lapin access for what the `Channel` trait does not offer: queue
/// depth and deletion.
struct Admin {
    _connection: lapin::Connection,
    channel: lapin::Channel,
}

impl Admin {
    async fn new() -> Admin {
        let connection = lapin::Connection::connect(&url(), lapin::ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach RabbitMQ (run `scripts/rabbitmq start`): {e}")
            });
        let channel = connection.create_channel().await.unwrap();
        Admin {
            _connection: connection,
            channel,
        }
    }

    /// Ready (not unacked) messages in `queue`.
    async fn ready(&self, queue: &str) -> u32 {
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        self.channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await
            .unwrap()
            .message_count()
    }

    async fn delete(&self, queues: &[&str]) {
        for queue in queues {
            self.channel
                .queue_delete((*queue).into(), QueueDeleteOptions::default())
                .await
                .unwrap();
        }
    }
}

/// The broker-side process ids (what `rabbitmqctl close_connection` takes)
/// of the connections whose client-provided `connection_name` is `name`.
fn connections_named(name: &str) -> Vec<String> {
    let needle = format!("\"{name}\"");
    rabbitmqctl(&["-q", "list_connections", "pid", "client_properties"])
        .lines()
        .filter(|line| line.contains(&needle))
        .filter_map(|line| line.split('\t').next())
        .map(str::to_owned)
        .collect()
}

async fn next(deliveries: &mut RabbitDeliveries) -> Delivery {
    tokio::time::timeout(WAIT, deliveries.next())
        .await
        .expect("no delivery within 10s")
        .expect("deliveries ended")
        .expect("delivery error")
}

async fn nothing_within(deliveries: &mut RabbitDeliveries, wait: Duration) {
    if let Ok(item) = tokio::time::timeout(wait, deliveries.next()).await {
        panic!("expected no delivery, got {item:?}");
    }
}

async fn declare(channel: &RabbitChannel, queue: &str) {
    channel
        .declare_queue(queue, &QueueOptions::default())
        .await
        .unwrap();
}

async fn publish(channel: &RabbitChannel, queue: &str, body: &[u8]) {
    channel
        .publish("", queue, body, &Properties::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_declare_publish_consume_ack() {
    let broker = broker("basic");
    assert!(!broker.is_connected());
    let ch = channel(&broker).await;
    assert!(broker.is_connected());
    let q = unique("basic");
    declare(&ch, &q).await;
    // Idempotent with the same options.
    declare(&ch, &q).await;
    ch.check_queue(&q).await.unwrap();
    publish(&ch, &q, b"{\"id\":1}").await;

    ch.qos(10).await.unwrap();
    let mut deliveries = ch.consume(&[&q], "basic").await.unwrap();
    let d = next(&mut deliveries).await;
    assert_eq!(&d.body[..], b"{\"id\":1}");
    assert_eq!(&*d.queue, q.as_str());
    assert_eq!(d.exchange, "");
    assert_eq!(d.routing_key, q);
    assert!(!d.redelivered);
    assert_eq!(d.tag, 1);
    ch.ack(d.tag, false).await.unwrap();
    ch.close().await;

    let admin = Admin::new().await;
    // Had the ack been lost, closing the channel would have requeued it.
    assert_eq!(admin.ready(&q).await, 0);
    admin.delete(&[&q]).await;
    broker.close().await;
    assert!(!broker.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_bounds_outstanding_deliveries() {
    let broker = broker("prefetch");
    let ch = channel(&broker).await;
    let q = unique("prefetch");
    declare(&ch, &q).await;
    for i in 0..10u8 {
        publish(&ch, &q, &[i]).await;
    }
    ch.qos(3).await.unwrap();
    let mut deliveries = ch.consume(&[&q], "prefetch").await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut deliveries).await);
    }
    nothing_within(&mut deliveries, Duration::from_millis(300)).await;
    ch.ack(got[0].tag, false).await.unwrap();
    got.push(next(&mut deliveries).await);
    nothing_within(&mut deliveries, Duration::from_millis(300)).await;
    assert_eq!(
        got.iter().map(|d| d.body[0]).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    ch.close().await;
    let admin = Admin::new().await;
    assert_eq!(admin.ready(&q).await, 9, "unacked deliveries were requeued");
    admin.delete(&[&q]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_ack_settles_every_tag_up_to_it() {
    let broker = broker("multi-ack");
    let ch = channel(&broker).await;
    let q = unique("multi-ack");
    declare(&ch, &q).await;
    for i in 0..5u8 {
        publish(&ch, &q, &[i]).await;
    }
    let mut deliveries = ch.consume(&[&q], "multi-ack").await.unwrap();
    let mut tags = Vec::new();
    for _ in 0..5 {
        tags.push(next(&mut deliveries).await.tag);
    }
    assert_eq!(tags, [1, 2, 3, 4, 5]);
    ch.ack(4, true).await.unwrap();
    assert_eq!(
        ch.ack(0, true).await.unwrap_err().kind(),
        BrokerErrorKind::Refused
    );
    ch.close().await;
    let admin = Admin::new().await;
    assert_eq!(admin.ready(&q).await, 1, "only tag 5 was left unacked");
    admin.delete(&[&q]).await;
    broker.close().await;
}

/// `ack` and `nack` return once the frame is queued on the channel, not
/// written: every one of them still reaches the broker before the channel's
/// close (else the close would requeue those messages), and an ack on a
/// closed channel fails at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_acks_reach_the_broker_before_the_close() {
    let broker = broker("queued-acks");
    let ch = channel(&broker).await;
    let q = unique("queued-acks");
    declare(&ch, &q).await;
    let n = 2000u32;
    for i in 0..n {
        publish(&ch, &q, &i.to_be_bytes()).await;
    }
    ch.qos(n as u16).await.unwrap();
    let mut deliveries = ch.consume(&[&q], "queued-acks").await.unwrap();
    for i in 0..n {
        let d = next(&mut deliveries).await;
        if i % 10 == 9 {
            ch.nack(d.tag, false, false).await.unwrap();
        } else {
            ch.ack(d.tag, false).await.unwrap();
        }
    }
    ch.close().await;
    assert!(
        ch.ack(1, false).await.is_err(),
        "an ack on a closed channel fails"
    );
    let admin = Admin::new().await;
    assert_eq!(
        admin.ready(&q).await,
        0,
        "every ack and nack was sent before the close"
    );
    admin.delete(&[&q]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_with_requeue_redelivers_and_without_discards() {
    let broker = broker("nack");
    let ch = channel(&broker).await;
    let q = unique("nack");
    declare(&ch, &q).await;
    publish(&ch, &q, b"again").await;
    let mut deliveries = ch.consume(&[&q], "nack").await.unwrap();
    let first = next(&mut deliveries).await;
    assert!(!first.redelivered);
    ch.nack(first.tag, false, true).await.unwrap();
    let second = next(&mut deliveries).await;
    assert!(second.redelivered);
    assert_eq!(&second.body[..], b"again");
    assert_ne!(second.tag, first.tag);
    ch.nack(second.tag, false, false).await.unwrap();
    nothing_within(&mut deliveries, Duration::from_millis(300)).await;
    ch.close().await;
    let admin = Admin::new().await;
    assert_eq!(admin.ready(&q).await, 0);
    admin.delete(&[&q]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_message_is_dead_lettered() {
    let broker = broker("dlx");
    let ch = channel(&broker).await;
    let q = unique("dlx.work");
    let dlq = unique("dlx.dead");
    declare(&ch, &dlq).await;
    let options = QueueOptions::default()
        .with_durable(false)
        .with_dead_letter_exchange(String::new())
        .with_dead_letter_routing_key(dlq.clone());
    ch.declare_queue(&q, &options).await.unwrap();
    // Redeclaring with different arguments is refused, and the channel survives.
    let e = ch
        .declare_queue(&q, &QueueOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), BrokerErrorKind::Refused, "{e}");

    publish(&ch, &q, b"poison").await;
    let mut work = ch.consume(&[&q], "dlx").await.unwrap();
    let d = next(&mut work).await;
    ch.nack(d.tag, false, false).await.unwrap();

    let dead_ch = channel(&broker).await;
    let mut dead = dead_ch.consume(&[&dlq], "dlx-dead").await.unwrap();
    let d = next(&mut dead).await;
    assert_eq!(&d.body[..], b"poison");
    assert_eq!(&*d.queue, dlq.as_str());
    let Some(AmqpValue::Array(deaths)) = d.properties.headers.get("x-death") else {
        panic!("no x-death array header: {:?}", d.properties.headers);
    };
    let Some(AmqpValue::Table(death)) = deaths.first() else {
        panic!("x-death entry is not a table: {deaths:?}");
    };
    assert_eq!(death.get("queue"), Some(&AmqpValue::Str(q.clone())));
    assert_eq!(
        death.get("reason"),
        Some(&AmqpValue::Str("rejected".into()))
    );
    assert_eq!(death.get("count"), Some(&AmqpValue::Int(1)));
    dead_ch.ack(d.tag, false).await.unwrap();

    ch.close().await;
    dead_ch.close().await;
    Admin::new().await.delete(&[&q, &dlq]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_delay_queue_forwards_into_target_queue() {
    let broker = broker("delay");
    let ch = channel(&broker).await;
    let target = unique("delay.target");
    let delay = unique("delay.wait");
    declare(&ch, &target).await;
    let options = QueueOptions::default()
        .with_durable(true)
        .with_message_ttl(Duration::from_millis(400))
        .with_dead_letter_exchange(String::new())
        .with_dead_letter_routing_key(target.clone());
    ch.declare_queue(&delay, &options).await.unwrap();

    let mut deliveries = ch.consume(&[&target], "delay").await.unwrap();
    let sent = Instant::now();
    publish(&ch, &delay, b"later").await;
    let d = next(&mut deliveries).await;
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(350),
        "arrived after {waited:?}"
    );
    assert_eq!(&d.body[..], b"later");
    assert_eq!(&*d.queue, target.as_str());
    let Some(AmqpValue::Array(deaths)) = d.properties.headers.get("x-death") else {
        panic!("no x-death header");
    };
    assert!(matches!(&deaths[0], AmqpValue::Table(t)
        if t.get("reason") == Some(&AmqpValue::Str("expired".into()))));
    ch.ack(d.tag, false).await.unwrap();
    ch.close().await;
    Admin::new().await.delete(&[&target, &delay]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_queue_is_reported_and_channel_stays_usable() {
    let broker = broker("missing");
    let ch = channel(&broker).await;
    let missing = unique("missing.nope");
    let e = ch.check_queue(&missing).await.unwrap_err();
    assert_eq!(e.kind(), BrokerErrorKind::QueueNotFound, "{e}");
    assert!(e.message().contains(&missing), "{e}");

    // The same channel still works.
    let q = unique("missing.present");
    declare(&ch, &q).await;
    ch.check_queue(&q).await.unwrap();
    publish(&ch, &q, b"still here").await;
    let mut deliveries = ch.consume(&[&q], "missing").await.unwrap();
    let d = next(&mut deliveries).await;
    assert_eq!(&d.body[..], b"still here");
    ch.ack(d.tag, false).await.unwrap();

    // Consuming a missing queue is QueueNotFound too.
    let other = channel(&broker).await;
    let e = other.consume(&[&missing], "missing").await.unwrap_err();
    assert_eq!(e.kind(), BrokerErrorKind::QueueNotFound, "{e}");

    ch.close().await;
    Admin::new().await.delete(&[&q]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_queues_on_one_channel_share_the_tag_space() {
    let broker = broker("two");
    let ch = channel(&broker).await;
    let a = unique("two.a");
    let b = unique("two.b");
    declare(&ch, &a).await;
    declare(&ch, &b).await;
    for i in 0..2u8 {
        publish(&ch, &a, &[b'a', i]).await;
        publish(&ch, &b, &[b'b', i]).await;
    }
    let mut deliveries = ch.consume(&[&a, &b], "two").await.unwrap();
    let mut tags = BTreeSet::new();
    let mut per_queue = (0, 0);
    let mut last_tag = 0;
    for _ in 0..4 {
        let d = next(&mut deliveries).await;
        assert!(d.tag > last_tag, "tag {} after {last_tag}", d.tag);
        last_tag = d.tag;
        assert!(tags.insert(d.tag), "duplicate tag {}", d.tag);
        if *d.queue == *a {
            assert_eq!(d.body[0], b'a');
            per_queue.0 += 1;
        } else {
            assert_eq!(&*d.queue, b.as_str());
            assert_eq!(d.body[0], b'b');
            per_queue.1 += 1;
        }
    }
    assert_eq!(tags, BTreeSet::from([1, 2, 3, 4]));
    assert_eq!(per_queue, (2, 2));
    // One multiple-ack settles the deliveries of both queues.
    ch.ack(4, true).await.unwrap();
    ch.close().await;
    let admin = Admin::new().await;
    assert_eq!(admin.ready(&a).await, 0);
    assert_eq!(admin.ready(&b).await, 0);
    admin.delete(&[&a, &b]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_properties_round_trip() {
    let broker = broker("props");
    let ch = channel(&broker).await;
    let q = unique("props");
    declare(&ch, &q).await;

    let mut nested = Headers::new();
    nested.insert("depth".into(), AmqpValue::Int(2));
    let mut headers = Headers::new();
    headers.insert("x-retry-count".into(), AmqpValue::Int(3));
    headers.insert("big".into(), AmqpValue::Int(i64::MIN));
    headers.insert("text".into(), "héllo".into());
    headers.insert("flag".into(), true.into());
    headers.insert("ratio".into(), AmqpValue::Float(0.25));
    headers.insert("raw".into(), AmqpValue::Bytes(vec![0, 1, 254, 255]));
    headers.insert(
        "list".into(),
        AmqpValue::Array(vec!["x".into(), AmqpValue::Int(7), false.into()]),
    );
    headers.insert("nested".into(), AmqpValue::Table(nested));
    let properties = Properties::default()
        .with_headers(headers)
        .with_content_type("application/json")
        .with_message_id("msg-1")
        .with_correlation_id("corr-1")
        .with_reply_to("replies")
        .with_expiration("60000")
        .with_delivery_mode(2)
        .with_priority(5);
    ch.publish("", &q, b"{}", &properties).await.unwrap();
    let mut deliveries = ch.consume(&[&q], "props").await.unwrap();
    let d = next(&mut deliveries).await;
    assert_eq!(d.properties, properties);
    assert_eq!(d.retry_count(), 3);
    ch.ack(d.tag, false).await.unwrap();
    ch.close().await;
    Admin::new().await.delete(&[&q]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_body_is_published_and_delivered() {
    let broker = broker("empty");
    let ch = channel(&broker).await;
    let q = unique("empty");
    declare(&ch, &q).await;
    publish(&ch, &q, b"").await;
    publish(&ch, &q, b"after").await;
    let mut deliveries = ch.consume(&[&q], "empty").await.unwrap();
    let d = next(&mut deliveries).await;
    assert!(d.body.is_empty());
    assert_eq!(d.properties, Properties::default());
    assert_eq!(&next(&mut deliveries).await.body[..], b"after");
    ch.ack(2, true).await.unwrap();
    ch.close().await;
    Admin::new().await.delete(&[&q]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_stream_without_error() {
    let broker = broker("cancel");
    let ch = channel(&broker).await;
    let q = unique("cancel");
    declare(&ch, &q).await;
    publish(&ch, &q, b"1").await;
    let mut deliveries = ch.consume(&[&q], "cancel").await.unwrap();
    let d = next(&mut deliveries).await;
    ch.cancel().await.unwrap();
    let end = tokio::time::timeout(WAIT, deliveries.next())
        .await
        .expect("stream did not end after cancel");
    assert!(end.is_none(), "expected the end of the stream, got {end:?}");
    // Settling after cancel still works on the open channel.
    ch.ack(d.tag, false).await.unwrap();
    publish(&ch, &q, b"2").await;
    ch.close().await;
    let admin = Admin::new().await;
    assert_eq!(admin.ready(&q).await, 1, "nothing consumed after cancel");
    admin.delete(&[&q]).await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_queue_ends_the_stream_with_an_error() {
    let broker = broker("deleted");
    let ch = channel(&broker).await;
    let q = unique("deleted");
    declare(&ch, &q).await;
    let mut deliveries = ch.consume(&[&q], "deleted").await.unwrap();
    Admin::new().await.delete(&[&q]).await;
    let item = tokio::time::timeout(WAIT, deliveries.next())
        .await
        .expect("no error after the queue was deleted");
    let e = item.expect("an error before the end").unwrap_err();
    // basic.cancel from the broker, the channel still open.
    assert_eq!(e.kind(), BrokerErrorKind::Cancelled, "{e}");
    assert!(deliveries.next().await.is_none());
    ch.close().await;
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_name_is_visible_to_the_broker() {
    let broker = broker("named");
    let _ch = channel(&broker).await;
    let name = unique("named");
    let found = connections_named(&name);
    assert_eq!(found.len(), 1, "connection `{name}` not listed: {found:?}");
    // One connection, shared by all channels of the broker.
    let _ch2 = channel(&broker).await;
    let _ch3 = broker.clone().channel().await.unwrap();
    assert_eq!(connections_named(&name).len(), 1);
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_option_is_negotiated() {
    let name = unique("heartbeat");
    let options = RabbitOptions {
        heartbeat: Some(7),
        ..RabbitOptions::named(name.as_str())
    };
    let broker = RabbitBroker::new(&url(), options).unwrap();
    let _ch = channel(&broker).await;
    let needle = format!("\"{name}\"");
    let listing = rabbitmqctl(&["-q", "list_connections", "timeout", "client_properties"]);
    let line = listing
        .lines()
        .find(|line| line.contains(&needle))
        .unwrap_or_else(|| panic!("connection `{name}` not listed:\n{listing}"));
    assert_eq!(line.split('\t').next(), Some("7"), "{line}");
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_channel_calls_share_one_connection() {
    let broker = broker("concurrent");
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let broker = broker.clone();
            tokio::spawn(async move { broker.channel().await.map(|_| ()) })
        })
        .collect();
    for call in calls {
        call.await.unwrap().expect("channel");
    }
    assert_eq!(connections_named(&unique("concurrent")).len(), 1);
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_side_close_errors_the_stream_and_channel_reconnects() {
    let broker = broker("killed");
    let ch = channel(&broker).await;
    let q = unique("killed");
    ch.declare_queue(&q, &QueueOptions::default().with_durable(true))
        .await
        .unwrap();
    let mut deliveries = ch.consume(&[&q], "killed").await.unwrap();

    let name = unique("killed");
    let connections = connections_named(&name);
    assert_eq!(connections.len(), 1, "{connections:?}");
    rabbitmqctl(&["-q", "close_connection", &connections[0], "test kill"]);

    let item = tokio::time::timeout(WAIT, deliveries.next())
        .await
        .expect("no error after the broker closed the connection");
    let e = item.expect("an error before the end").unwrap_err();
    assert!(
        matches!(
            e.kind(),
            BrokerErrorKind::Connection | BrokerErrorKind::Closed
        ),
        "{e:?}"
    );
    assert!(deliveries.next().await.is_none());
    assert!(!broker.is_connected());
    let e = ch.ack(1, false).await.unwrap_err();
    assert_eq!(e.kind(), BrokerErrorKind::Connection, "{e}");

    // The next channel() reconnects.
    let ch = channel(&broker).await;
    assert!(broker.is_connected());
    publish(&ch, &q, b"after reconnect").await;
    let mut deliveries = ch.consume(&[&q], "killed").await.unwrap();
    assert_eq!(&next(&mut deliveries).await.body[..], b"after reconnect");
    ch.ack(1, false).await.unwrap();
    ch.close().await;
    Admin::new().await.delete(&[&q]).await;
    broker.close().await;
}

/// `amqps://` goes through rustls (ring provider, OS roots): against the
/// plain-AMQP port the TLS handshake fails with a connection error, without
/// panicking for a missing crypto provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_uses_tls() {
    let plain = url();
    let tls = plain.replacen("amqp://", "amqps://", 1);
    let tls = if tls.contains(":5672") {
        tls
    } else {
        tls.replacen("@127.0.0.1/", "@127.0.0.1:5672/", 1)
    };
    let broker = RabbitBroker::new(&tls, RabbitOptions::named(unique("tls"))).unwrap();
    let e = broker.channel().await.unwrap_err();
    assert_eq!(e.kind(), BrokerErrorKind::Connection, "{e}");
    assert!(!broker.is_connected());
}
