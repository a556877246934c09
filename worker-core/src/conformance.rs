//! A behavioural suite for [`Broker`] implementations.
//!
//! The embedded broker ([`crate::memory`]) and the RabbitMQ broker run the
//! same functions, so the two cannot drift. Each function takes a broker and
//! a queue-name prefix, declares its own non-durable queues named
//! `{prefix}.<behaviour>...`, uses only the [`Broker`] / [`Channel`] /
//! [`Deliveries`] traits, guards every wait with a timeout, and returns
//! `Err(description)` on the first violated expectation. Pass a prefix that
//! is unique per run (queues are not deleted afterwards).

use std::future::Future;
use std::time::Duration;

use tokio::time::{timeout, Instant};

use crate::broker::{Broker, Channel, Deliveries, QueueOptions};
use crate::error::{BrokerError, BrokerErrorKind};
use crate::message::{Delivery, HeaderValue, Properties};

/// How long to wait for something that should happen.
const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for something that should not happen.
const QUIET: Duration = Duration::from_millis(250);
/// TTL of the delay queue in [`ttl_delay_queue`].
const TTL: Duration = Duration::from_millis(300);

/// The result of one behaviour: `Err` describes the first violation.
pub type Outcome = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Runs an operation with a timeout, describing a failure with `what`.
async fn step<T>(
    what: &str,
    op: impl Future<Output = Result<T, BrokerError>>,
) -> Result<T, String> {
    match timeout(WAIT, op).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what}: {e} ({:?})", e.kind)),
        Err(_) => Err(format!("{what}: timed out after {WAIT:?}")),
    }
}

async fn open<B: Broker>(broker: &B) -> Result<B::Channel, String> {
    step("open a channel", broker.channel()).await
}

async fn declare<C: Channel>(channel: &C, queue: &str, options: QueueOptions) -> Outcome {
    step(
        &format!("declare `{queue}`"),
        channel.declare_queue(queue, &options),
    )
    .await
}

async fn send<C: Channel>(channel: &C, queue: &str, body: &str) -> Outcome {
    step(
        &format!("publish `{body}` to `{queue}`"),
        channel.publish("", queue, body.as_bytes(), &Properties::default()),
    )
    .await
}

async fn consume<C: Channel>(channel: &C, queues: &[&str]) -> Result<C::Deliveries, String> {
    step(
        &format!("consume {queues:?}"),
        channel.consume(queues, "conformance"),
    )
    .await
}

async fn ack<C: Channel>(channel: &C, tag: u64, multiple: bool) -> Outcome {
    step(
        &format!("ack tag {tag} (multiple = {multiple})"),
        channel.ack(tag, multiple),
    )
    .await
}

fn text(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.body).into_owned()
}

/// The next delivery, within [`WAIT`].
async fn recv<D: Deliveries>(deliveries: &mut D, what: &str) -> Result<Delivery, String> {
    match timeout(WAIT, deliveries.next()).await {
        Ok(Some(Ok(d))) => Ok(d),
        Ok(Some(Err(e))) => Err(format!("{what}: the stream failed: {e} ({:?})", e.kind)),
        Ok(None) => Err(format!("{what}: the stream ended")),
        Err(_) => Err(format!("{what}: nothing delivered within {WAIT:?}")),
    }
}

/// Receives `n` deliveries and checks their bodies, in order.
async fn recv_bodies<D: Deliveries>(
    deliveries: &mut D,
    expected: &[&str],
    what: &str,
) -> Result<Vec<Delivery>, String> {
    let mut out = Vec::with_capacity(expected.len());
    for &body in expected {
        let d = recv(deliveries, what).await?;
        ensure!(
            text(&d) == body,
            "{what}: expected `{body}`, got `{}` (order must be FIFO)",
            text(&d)
        );
        out.push(d);
    }
    Ok(out)
}

/// Checks that nothing is delivered within [`QUIET`].
async fn quiet<D: Deliveries>(deliveries: &mut D, what: &str) -> Outcome {
    match timeout(QUIET, deliveries.next()).await {
        Err(_) => Ok(()),
        Ok(Some(Ok(d))) => Err(format!(
            "{what}: unexpected delivery `{}` ({d:?})",
            text(&d)
        )),
        Ok(Some(Err(e))) => Err(format!("{what}: the stream failed: {e}")),
        Ok(None) => Err(format!("{what}: the stream ended")),
    }
}

fn bodies(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The first `x-death` entry of a delivery, as a table.
fn first_death(d: &Delivery) -> Result<&crate::message::Headers, String> {
    match d.properties.headers.get("x-death") {
        Some(HeaderValue::Array(entries)) => match entries.first() {
            Some(HeaderValue::Table(t)) => Ok(t),
            other => Err(format!("x-death's first entry is not a table: {other:?}")),
        },
        other => Err(format!(
            "expected an `x-death` array header, got {other:?} (headers: {:?})",
            d.properties.headers
        )),
    }
}

/// Runs every behaviour; `Err` lists each one that failed.
pub async fn run_all<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let mut failures = Vec::new();
    macro_rules! run {
        ($($name:ident),* $(,)?) => {$(
            let name = stringify!($name);
            if let Err(e) = $name(broker, &format!("{prefix}.{name}")).await {
                failures.push(format!("{name}: {e}"));
            }
        )*};
    }
    run!(
        publish_consume_ack,
        prefetch_window,
        multiple_ack,
        nack_requeue_to_head,
        nack_dead_letter,
        ttl_delay_queue,
        close_redelivers_unacked,
        check_missing_queue,
        shared_tag_space,
        cancel_ends_stream,
        properties_round_trip,
        empty_body,
        unroutable_publish,
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Publish, consume and ack: fields are as published, order is FIFO, and
/// nothing is left afterwards.
pub async fn publish_consume_ack<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.ack");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    let sent = bodies("m", 0..3);
    for body in &sent {
        send(&ch, &q, body).await?;
    }
    let mut stream = consume(&ch, &[&q]).await?;
    for d in recv_bodies(&mut stream, &refs(&sent), "first delivery").await? {
        ensure!(
            *d.queue == *q,
            "delivery queue: expected `{q}`, got `{}`",
            d.queue
        );
        ensure!(
            d.exchange.is_empty(),
            "delivery exchange: expected ``, got `{}`",
            d.exchange
        );
        ensure!(
            d.routing_key == q,
            "routing key: expected `{q}`, got `{}`",
            d.routing_key
        );
        ensure!(
            !d.redelivered,
            "a first delivery must not be flagged redelivered"
        );
        ack(&ch, d.tag, false).await?;
    }
    ch.close().await;

    let ch = open(broker).await?;
    let mut stream = consume(&ch, &[&q]).await?;
    quiet(&mut stream, "after acking every message").await?;
    ch.close().await;
    Ok(())
}

/// With `qos(3)` and 10 messages, exactly 3 are outstanding until one is
/// acked, then exactly one more arrives.
pub async fn prefetch_window<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.prefetch");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    let sent = bodies("m", 0..10);
    for body in &sent {
        send(&ch, &q, body).await?;
    }
    step("qos(3)", ch.qos(3)).await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let first = recv_bodies(&mut stream, &refs(&sent[..3]), "window of 3").await?;
    quiet(&mut stream, "a 4th delivery with 3 unacked and prefetch 3").await?;
    ack(&ch, first[0].tag, false).await?;
    let fourth = recv_bodies(&mut stream, &refs(&sent[3..4]), "after one ack").await?;
    quiet(&mut stream, "a 5th delivery after only one ack").await?;
    ack(&ch, fourth[0].tag, true).await?;
    for body in &sent[4..] {
        let d = recv(&mut stream, "draining").await?;
        ensure!(
            text(&d) == *body,
            "draining: expected `{body}`, got `{}`",
            text(&d)
        );
        ack(&ch, d.tag, false).await?;
    }
    ch.close().await;
    Ok(())
}

/// `ack(tag, multiple = true)` settles every outstanding tag up to `tag`,
/// and only those.
pub async fn multiple_ack<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.multiple");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    let sent = bodies("m", 0..5);
    for body in &sent {
        send(&ch, &q, body).await?;
    }
    let mut stream = consume(&ch, &[&q]).await?;
    let got = recv_bodies(&mut stream, &refs(&sent), "five deliveries").await?;
    ensure!(
        got.windows(2).all(|w| w[0].tag < w[1].tag),
        "tags must increase: {:?}",
        got.iter().map(|d| d.tag).collect::<Vec<_>>()
    );
    ack(&ch, got[2].tag, true).await?;
    ch.close().await;

    let ch = open(broker).await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let rest = recv_bodies(&mut stream, &refs(&sent[3..]), "the two unacked").await?;
    ensure!(
        rest.iter().all(|d| d.redelivered),
        "messages returned by a channel close must be flagged redelivered"
    );
    quiet(&mut stream, "messages covered by the multiple ack").await?;
    ack(&ch, rest[1].tag, true).await?;
    ch.close().await;
    Ok(())
}

/// `nack(requeue = true)` puts messages back at the head of the queue, in
/// order, flagged redelivered.
pub async fn nack_requeue_to_head<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.requeue");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    for body in ["a", "b", "c"] {
        send(&ch, &q, body).await?;
    }
    step("qos(2)", ch.qos(2)).await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let first = recv_bodies(&mut stream, &["a", "b"], "first window").await?;
    step("nack multiple requeue", ch.nack(first[1].tag, true, true)).await?;
    let again = recv_bodies(&mut stream, &["a", "b"], "after nack(requeue)").await?;
    ensure!(
        again.iter().all(|d| d.redelivered),
        "requeued messages must be flagged redelivered"
    );
    ensure!(
        again[0].tag > first[1].tag,
        "redeliveries get new tags: {} after {}",
        again[0].tag,
        first[1].tag
    );
    ack(&ch, again[1].tag, true).await?;
    let c = recv_bodies(&mut stream, &["c"], "the third message").await?;
    ensure!(!c[0].redelivered, "`c` was never delivered before");
    step("nack single requeue", ch.nack(c[0].tag, false, true)).await?;
    let c = recv_bodies(&mut stream, &["c"], "after a single nack(requeue)").await?;
    ensure!(c[0].redelivered, "requeued `c` must be flagged redelivered");
    ack(&ch, c[0].tag, false).await?;
    ch.close().await;
    Ok(())
}

/// `nack(requeue = false)` on a queue with a dead-letter exchange moves the
/// message to the dead-letter queue with an `x-death` record.
pub async fn nack_dead_letter<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let dlq = format!("{prefix}.dlq");
    let src = format!("{prefix}.src");
    let ch = open(broker).await?;
    declare(&ch, &dlq, QueueOptions::default()).await?;
    let options = QueueOptions {
        dead_letter_exchange: Some(String::new()),
        dead_letter_routing_key: Some(dlq.clone()),
        ..QueueOptions::default()
    };
    declare(&ch, &src, options).await?;
    let mut properties = Properties::default();
    properties.headers.insert("kept".into(), "yes".into());
    step(
        "publish to the source queue",
        ch.publish("", &src, b"poison", &properties),
    )
    .await?;
    let mut stream = consume(&ch, &[&src]).await?;
    let d = recv(&mut stream, "source delivery").await?;
    step("nack without requeue", ch.nack(d.tag, false, false)).await?;
    quiet(&mut stream, "a rejected message redelivered to its queue").await?;

    let dl_ch = open(broker).await?;
    let mut dl_stream = consume(&dl_ch, &[&dlq]).await?;
    let d = recv(&mut dl_stream, "dead-lettered delivery").await?;
    ensure!(
        text(&d) == "poison",
        "dead-lettered body: got `{}`",
        text(&d)
    );
    ensure!(
        d.routing_key == dlq,
        "dead-letter routing key: expected `{dlq}`, got `{}`",
        d.routing_key
    );
    ensure!(
        d.properties.headers.get("kept") == Some(&HeaderValue::from("yes")),
        "headers must survive dead-lettering: {:?}",
        d.properties.headers
    );
    let death = first_death(&d)?;
    ensure!(
        death.get("queue").and_then(HeaderValue::as_str) == Some(src.as_str()),
        "x-death queue: expected `{src}`, got {:?}",
        death.get("queue")
    );
    ensure!(
        death.get("reason").and_then(HeaderValue::as_str) == Some("rejected"),
        "x-death reason: expected `rejected`, got {:?}",
        death.get("reason")
    );
    ensure!(
        death.get("count").and_then(HeaderValue::as_int) == Some(1),
        "x-death count: expected 1, got {:?}",
        death.get("count")
    );
    ack(&dl_ch, d.tag, false).await?;
    dl_ch.close().await;
    ch.close().await;
    Ok(())
}

/// A message in a queue with a message TTL and a dead-letter exchange moves,
/// after the TTL and with no other activity, to the dead-letter target (the
/// delay queues of retries).
pub async fn ttl_delay_queue<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let target = format!("{prefix}.target");
    let delay = format!("{prefix}.delay.{}", TTL.as_millis());
    let ch = open(broker).await?;
    declare(&ch, &target, QueueOptions::default()).await?;
    let options = QueueOptions {
        message_ttl: Some(TTL),
        dead_letter_exchange: Some(String::new()),
        dead_letter_routing_key: Some(target.clone()),
        ..QueueOptions::default()
    };
    declare(&ch, &delay, options).await?;
    let mut stream = consume(&ch, &[&target]).await?;
    let start = Instant::now();
    send(&ch, &delay, "later").await?;
    let d = recv(&mut stream, "the delayed message").await?;
    let waited = start.elapsed();
    ensure!(text(&d) == "later", "delayed body: got `{}`", text(&d));
    ensure!(
        waited >= TTL - Duration::from_millis(50),
        "the message arrived after {waited:?}, before its TTL of {TTL:?}"
    );
    ensure!(
        *d.queue == *target,
        "delivered from `{}`, expected `{target}`",
        d.queue
    );
    let death = first_death(&d)?;
    ensure!(
        death.get("reason").and_then(HeaderValue::as_str) == Some("expired"),
        "x-death reason: expected `expired`, got {:?}",
        death.get("reason")
    );
    ensure!(
        death.get("queue").and_then(HeaderValue::as_str) == Some(delay.as_str()),
        "x-death queue: expected `{delay}`, got {:?}",
        death.get("queue")
    );
    ack(&ch, d.tag, false).await?;
    ch.close().await;
    Ok(())
}

/// Closing a channel with unacked deliveries returns them, in order and
/// flagged redelivered, to another consumer.
pub async fn close_redelivers_unacked<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.close");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    for body in ["x", "y"] {
        send(&ch, &q, body).await?;
    }
    let mut stream = consume(&ch, &[&q]).await?;
    recv_bodies(&mut stream, &["x", "y"], "before closing").await?;
    ch.close().await;

    let ch = open(broker).await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let again = recv_bodies(&mut stream, &["x", "y"], "after the close").await?;
    ensure!(
        again.iter().all(|d| d.redelivered),
        "messages returned by a closed channel must be flagged redelivered"
    );
    ack(&ch, again[1].tag, true).await?;
    ch.close().await;
    Ok(())
}

/// `check_queue` and `consume` on a missing queue fail with `QueueNotFound`;
/// `check_queue` on an existing one succeeds.
pub async fn check_missing_queue<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let existing = format!("{prefix}.exists");
    let missing = format!("{prefix}.missing");
    let ch = open(broker).await?;
    declare(&ch, &existing, QueueOptions::default()).await?;
    step("check an existing queue", ch.check_queue(&existing)).await?;
    let result = timeout(WAIT, ch.check_queue(&missing)).await;
    ensure!(
        matches!(&result, Ok(Err(e)) if e.kind == BrokerErrorKind::QueueNotFound),
        "check_queue on a missing queue: expected QueueNotFound, got {result:?}"
    );
    ch.close().await;

    // A failed passive declare may close the channel (RabbitMQ): use a new one.
    let ch = open(broker).await?;
    let result = timeout(WAIT, ch.consume(&[&missing], "conformance")).await;
    ensure!(
        matches!(&result, Ok(Err(e)) if e.kind == BrokerErrorKind::QueueNotFound),
        "consume on a missing queue: expected QueueNotFound, got {:?}",
        result.map(|r| r.map(|_| ()))
    );
    ch.close().await;
    Ok(())
}

/// Consumers of two queues on one channel share its tag space: tags strictly
/// increase across both, and each delivery names its queue.
pub async fn shared_tag_space<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let qa = format!("{prefix}.a");
    let qb = format!("{prefix}.b");
    let ch = open(broker).await?;
    declare(&ch, &qa, QueueOptions::default()).await?;
    declare(&ch, &qb, QueueOptions::default()).await?;
    for (q, body) in [(&qa, "a0"), (&qb, "b0"), (&qa, "a1"), (&qb, "b1")] {
        send(&ch, q, body).await?;
    }
    let mut stream = consume(&ch, &[&qa, &qb]).await?;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(recv(&mut stream, "deliveries of two queues").await?);
    }
    let tags: Vec<u64> = got.iter().map(|d| d.tag).collect();
    ensure!(
        tags.windows(2).all(|w| w[0] < w[1]),
        "tags must strictly increase across queues: {tags:?}"
    );
    for d in &got {
        let expected = if text(d).starts_with('a') { &qa } else { &qb };
        ensure!(
            *d.queue == **expected,
            "`{}` delivered as from `{}`, expected `{expected}`",
            text(d),
            d.queue
        );
    }
    for q in [&qa, &qb] {
        let order: Vec<String> = got.iter().filter(|d| *d.queue == **q).map(text).collect();
        ensure!(
            order.windows(2).all(|w| w[0] < w[1]),
            "per-queue order must be FIFO: {order:?}"
        );
    }
    ack(&ch, tags[3], true).await?;
    quiet(&mut stream, "after acking both queues").await?;
    ch.close().await;
    Ok(())
}

/// `cancel` ends the stream; deliveries already received can still be
/// acked, and later messages go to other consumers.
pub async fn cancel_ends_stream<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.cancel");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    send(&ch, &q, "before").await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let d = recv(&mut stream, "before cancel").await?;
    step("cancel", ch.cancel()).await?;
    match timeout(WAIT, stream.next()).await {
        Ok(None) => {}
        Ok(Some(Ok(extra))) => {
            return Err(format!("a delivery after cancel: `{}`", text(&extra)));
        }
        Ok(Some(Err(e))) => return Err(format!("the stream failed instead of ending: {e}")),
        Err(_) => return Err(format!("the stream did not end within {WAIT:?} of cancel")),
    }
    ack(&ch, d.tag, false).await?;
    send(&ch, &q, "after").await?;

    let other = open(broker).await?;
    let mut other_stream = consume(&other, &[&q]).await?;
    let d = recv_bodies(&mut other_stream, &["after"], "after cancel").await?;
    ensure!(
        !d[0].redelivered,
        "a message published after cancel was delivered to the cancelled consumer"
    );
    ack(&other, d[0].tag, false).await?;
    other.close().await;
    ch.close().await;
    Ok(())
}

/// Headers (string, integer, boolean) and properties survive the round trip,
/// and bodies are raw bytes.
pub async fn properties_round_trip<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.props");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    let mut properties = Properties {
        content_type: Some("application/json".into()),
        message_id: Some("message-1".into()),
        correlation_id: Some("correlation-1".into()),
        ..Properties::default()
    };
    let headers = [
        ("text", HeaderValue::from("value")),
        ("number", HeaderValue::Int(42)),
        ("negative", HeaderValue::Int(-7)),
        ("flag", HeaderValue::Bool(true)),
    ];
    for (name, value) in &headers {
        properties.headers.insert((*name).into(), value.clone());
    }
    let body = [0u8, 159, 146, 150, 255, b'{'];
    step("publish", ch.publish("", &q, &body, &properties)).await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let d = recv(&mut stream, "the message").await?;
    ensure!(d.body == body, "body: expected {body:?}, got {:?}", d.body);
    for (name, value) in &headers {
        ensure!(
            d.properties.headers.get(*name) == Some(value),
            "header `{name}`: expected {value:?}, got {:?}",
            d.properties.headers.get(*name)
        );
    }
    ensure!(
        d.properties.content_type == properties.content_type,
        "content_type: got {:?}",
        d.properties.content_type
    );
    ensure!(
        d.properties.message_id == properties.message_id,
        "message_id: got {:?}",
        d.properties.message_id
    );
    ensure!(
        d.properties.correlation_id == properties.correlation_id,
        "correlation_id: got {:?}",
        d.properties.correlation_id
    );
    ack(&ch, d.tag, false).await?;
    ch.close().await;
    Ok(())
}

/// An empty body round-trips.
pub async fn empty_body<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.empty");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    step("publish", ch.publish("", &q, b"", &Properties::default())).await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let d = recv(&mut stream, "the empty message").await?;
    ensure!(d.body.is_empty(), "body: expected empty, got {:?}", d.body);
    ack(&ch, d.tag, false).await?;
    ch.close().await;
    Ok(())
}

/// A publish that reaches no queue is `Unroutable`, never a silent drop;
/// the channel stays usable and publishes to existing queues go through.
pub async fn unroutable_publish<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.exists");
    let missing = format!("{prefix}.missing");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    let result = timeout(
        WAIT,
        ch.publish("", &missing, b"lost?", &Properties::default()),
    )
    .await;
    ensure!(
        matches!(&result, Ok(Err(e)) if e.kind == BrokerErrorKind::Unroutable),
        "publish to a missing queue: expected Unroutable, got {result:?}"
    );
    send(&ch, &q, "after").await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let got = recv_bodies(&mut stream, &["after"], "the publish after").await?;
    for d in got {
        ack(&ch, d.tag, false).await?;
    }
    ch.close().await;
    Ok(())
}
