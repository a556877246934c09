//! Behaviours that differ between RabbitMQ versions: each checks what the
//! broker's [`version`](Broker::version) says it should do (the embedded
//! broker models 4.3).

use super::*;
use crate::broker::{BrokerVersion, ConsumeOptions, DeliveryLimit};

/// The broker's version, which these behaviours need.
fn version_of<B: Broker>(broker: &B) -> Result<BrokerVersion, String> {
    broker
        .version()
        .ok_or_else(|| "the broker's version is unknown".to_owned())
}

/// A quorum queue and one message in it, consumed.
async fn one_quorum_message<B: Broker>(
    broker: &B,
    q: &str,
    delivery_limit: Option<DeliveryLimit>,
) -> Result<(B::Channel, <B::Channel as Channel>::Deliveries), String> {
    let ch = open(broker).await?;
    let options = QueueOptions {
        quorum: true,
        delivery_limit,
        ..QueueOptions::durable()
    };
    declare(&ch, q, options).await?;
    send(&ch, q, "m").await?;
    let stream = consume(&ch, &[q]).await?;
    Ok((ch, stream))
}

/// `basic.nack` with requeue returns a message without counting a
/// delivery on RabbitMQ 4.3 (the runtime's way of giving back what it did
/// not handle); before 4.3 it counts, as `basic.reject` does everywhere.
pub async fn nack_counts_by_version<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let (ch, mut stream) = one_quorum_message(broker, &format!("{prefix}.returns"), None).await?;
    // Version known once a channel is open.
    let version = version_of(broker)?;
    let mut counts = Vec::new();
    for _ in 0..3 {
        let d = recv(&mut stream, "a delivery from the quorum queue").await?;
        counts.push(
            d.properties
                .headers
                .get(crate::broker::DELIVERY_COUNT_HEADER)
                .and_then(AmqpValue::as_int)
                .unwrap_or(0),
        );
        step("nack(requeue)", ch.nack(d.tag, false, true)).await?;
    }
    let expected: Vec<i64> = if version.nack_counts_as_delivery() {
        vec![0, 1, 2]
    } else {
        vec![0, 0, 0]
    };
    ensure!(
        counts == expected,
        "RabbitMQ {version}: x-delivery-count after nack(requeue): expected {expected:?}, got {counts:?}"
    );
    let d = recv(&mut stream, "the message again").await?;
    ack(&ch, d.tag, false).await?;
    ch.close().await;
    Ok(())
}

/// Rejects (with requeue) the message of `stream` up to `max` times; how
/// many deliveries there were.
async fn deliveries_until_gone<C: Channel>(
    ch: &C,
    stream: &mut C::Deliveries,
    max: usize,
) -> Result<usize, String> {
    for n in 0..max {
        let d = match timeout(WAIT, stream.next()).await {
            Ok(Some(Ok(d))) => d,
            Ok(Some(Err(e))) => return Err(format!("the stream failed: {e}")),
            Ok(None) => return Err("the stream ended".to_owned()),
            // Dropped by the broker at its limit.
            Err(_) => return Ok(n),
        };
        if n + 1 == max {
            ack(ch, d.tag, false).await?;
            return Ok(max);
        }
        step("reject(requeue)", ch.reject(d.tag, true)).await?;
    }
    Ok(max)
}

/// Since RabbitMQ 4.0 a quorum queue declared without `x-delivery-limit`
/// has a limit of 20: a message rejected with requeue every time is
/// delivered 21 times, then dropped (no dead-letter target). Before 4.0
/// there is no limit. `DeliveryLimit::Unlimited` (`-1`) lifts it.
pub async fn default_delivery_limit<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    const TRIES: usize = 25;
    let (ch, mut stream) = one_quorum_message(broker, &format!("{prefix}.default"), None).await?;
    let version = version_of(broker)?;
    let delivered = deliveries_until_gone(&ch, &mut stream, TRIES).await?;
    let expected = version
        .default_delivery_limit()
        .map_or(TRIES, |limit| limit as usize + 1);
    ensure!(
        delivered == expected,
        "RabbitMQ {version}: a quorum queue without a delivery limit delivered a rejected message {delivered} times, expected {expected}"
    );
    ch.close().await;
    let (ch, mut stream) = one_quorum_message(
        broker,
        &format!("{prefix}.unlimited"),
        Some(DeliveryLimit::Unlimited),
    )
    .await?;
    let delivered = deliveries_until_gone(&ch, &mut stream, TRIES).await?;
    ensure!(
        delivered == TRIES,
        "with x-delivery-limit -1 a rejected message is never dropped: {delivered} of {TRIES} deliveries"
    );
    ch.close().await;
    Ok(())
}

/// Since RabbitMQ 4.0 a single-active-consumer queue is given to the
/// consumer of the highest priority (`x-priority`), also one that
/// subscribes after another; before 4.0, to the first consumer.
pub async fn single_active_priority<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.sac_priority");
    let setup = open(broker).await?;
    let options = QueueOptions {
        single_active: true,
        quorum: true,
        ..QueueOptions::durable()
    };
    declare(&setup, &q, options).await?;
    let version = version_of(broker)?;
    let low = open(broker).await?;
    let mut low_stream = step(
        "consume with priority 0",
        low.consume_with(&[&q], "low", &ConsumeOptions::default()),
    )
    .await?;
    let high = open(broker).await?;
    let high_options = ConsumeOptions {
        priority: Some(10),
        ..ConsumeOptions::default()
    };
    let mut high_stream = step(
        "consume with priority 10",
        high.consume_with(&[&q], "high", &high_options),
    )
    .await?;
    // Let the broker settle the hand-over (no message is in flight).
    tokio::time::sleep(QUIET).await;
    send(&setup, &q, "m").await?;
    let (got, idle) = if version.single_active_by_priority() {
        (&mut high_stream, &mut low_stream)
    } else {
        (&mut low_stream, &mut high_stream)
    };
    let d = recv(got, &format!("RabbitMQ {version}: the active consumer")).await?;
    quiet(idle, "the other consumer").await?;
    let acker = if version.single_active_by_priority() {
        &high
    } else {
        &low
    };
    ack(acker, d.tag, false).await?;
    for ch in [low, high, setup] {
        ch.close().await;
    }
    Ok(())
}

/// `x-priority`: while the consumer of higher priority has room in its
/// prefetch window, it gets every message; past it, the others do.
pub async fn consumer_priority<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.priority");
    let setup = open(broker).await?;
    declare(&setup, &q, QueueOptions::durable()).await?;
    let low = open(broker).await?;
    step("basic.qos 10 (low)", low.qos(10)).await?;
    let mut low_stream = step(
        "consume with priority -1",
        low.consume_with(
            &[&q],
            "low",
            &ConsumeOptions {
                priority: Some(-1),
                ..ConsumeOptions::default()
            },
        ),
    )
    .await?;
    let high = open(broker).await?;
    step("basic.qos 3 (high)", high.qos(3)).await?;
    let mut high_stream = step(
        "consume with priority 5",
        high.consume_with(
            &[&q],
            "high",
            &ConsumeOptions {
                priority: Some(5),
                ..ConsumeOptions::default()
            },
        ),
    )
    .await?;
    tokio::time::sleep(QUIET).await;
    for i in 0..3 {
        send(&setup, &q, &format!("m{i}")).await?;
    }
    let mut tags = Vec::new();
    for i in 0..3 {
        tags.push(
            recv(
                &mut high_stream,
                &format!("message {i} on the consumer of priority 5"),
            )
            .await?
            .tag,
        );
    }
    quiet(
        &mut low_stream,
        "the consumer of priority -1, while the other has room",
    )
    .await?;
    send(&setup, &q, "m3").await?;
    let d = recv(
        &mut low_stream,
        "the 4th message, past the window of the consumer of priority 5",
    )
    .await?;
    ack(&low, d.tag, false).await?;
    ack(&high, *tags.last().unwrap_or(&0), true).await?;
    for ch in [low, high, setup] {
        ch.close().await;
    }
    Ok(())
}

/// Every kind of queue the runtime declares is accepted (RabbitMQ 4.3
/// refuses transient non-exclusive queues): a retry delay queue, a
/// dead-letter queue, a cron lock (exclusive), a one-message record.
pub async fn runtime_queues_are_accepted<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let ch = open(broker).await?;
    let target = format!("{prefix}.work");
    declare(&ch, &target, QueueOptions::durable()).await?;
    let delay = crate::settlement::delay_queue_options(Duration::from_secs(1), &target);
    declare(&ch, &format!("{target}.retry.1000ms"), delay).await?;
    declare(&ch, &format!("{prefix}.dead"), QueueOptions::durable()).await?;
    let lock = QueueOptions {
        exclusive: true,
        ..QueueOptions::default()
    };
    declare(&ch, &format!("{prefix}.lock"), lock).await?;
    declare(
        &ch,
        &format!("{prefix}.record"),
        crate::runtime::record_queue_options(),
    )
    .await?;
    ch.close().await;
    Ok(())
}
