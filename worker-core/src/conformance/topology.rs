//! Behaviours of topology: dead-lettering, TTL delay queues, missing
//! queues, unroutable publishes.

use super::*;

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
        d.properties.headers.get("kept") == Some(&AmqpValue::from("yes")),
        "headers must survive dead-lettering: {:?}",
        d.properties.headers
    );
    let death = first_death(&d)?;
    ensure!(
        death.get("queue").and_then(AmqpValue::as_str) == Some(src.as_str()),
        "x-death queue: expected `{src}`, got {:?}",
        death.get("queue")
    );
    ensure!(
        death.get("reason").and_then(AmqpValue::as_str) == Some("rejected"),
        "x-death reason: expected `rejected`, got {:?}",
        death.get("reason")
    );
    ensure!(
        death.get("count").and_then(AmqpValue::as_int) == Some(1),
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
        death.get("reason").and_then(AmqpValue::as_str) == Some("expired"),
        "x-death reason: expected `expired`, got {:?}",
        death.get("reason")
    );
    ensure!(
        death.get("queue").and_then(AmqpValue::as_str) == Some(delay.as_str()),
        "x-death queue: expected `{delay}`, got {:?}",
        death.get("queue")
    );
    ack(&ch, d.tag, false).await?;
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

/// `publish_each` publishes a sequence pipelined and reports each message:
/// the ones to an existing queue are stored in order, one to a missing
/// queue are `Unroutable` (three of them, two in a row), and the channel
/// stays usable after them.
pub async fn pipelined_publish<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    // Sent to a missing queue, among messages that are stored: each must
    // come back Unroutable, and only those (a broker confirming several
    // publishes with one multiple-ack must not blame a neighbour).
    const RETURNED: [usize; 3] = [75, 150, 151];
    let q = format!("{prefix}.many");
    let missing = format!("{prefix}.missing");
    let ch = open(broker).await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    let props = Properties::default();
    let bodies: Vec<String> = (0..200).map(|i| format!("p{i}")).collect();
    let outgoing: Vec<Outgoing<'_>> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| Outgoing {
            exchange: "",
            routing_key: if RETURNED.contains(&i) { &missing } else { &q },
            body: body.as_bytes(),
            properties: &props,
        })
        .collect();
    let results = timeout(WAIT, ch.publish_each(&outgoing))
        .await
        .map_err(|_| format!("publish_each: no answer within {WAIT:?}"))?;
    ensure!(
        results.len() == 200,
        "expected 200 results, got {}",
        results.len()
    );
    for (i, r) in results.iter().enumerate() {
        if RETURNED.contains(&i) {
            ensure!(
                matches!(r, Err(e) if e.kind == BrokerErrorKind::Unroutable),
                "message {i} to a missing queue: expected Unroutable, got {r:?}"
            );
        } else {
            ensure!(r.is_ok(), "message {i}: expected a confirm, got {r:?}");
        }
    }
    let stored: Vec<&str> = bodies
        .iter()
        .enumerate()
        .filter(|(i, _)| !RETURNED.contains(i))
        .map(|(_, b)| b.as_str())
        .collect();
    let mut stream = consume(&ch, &[&q]).await?;
    let got = recv_bodies(&mut stream, &stored, "the pipelined messages").await?;
    let last = got.last().map(|d| d.tag).unwrap_or_default();
    ack(&ch, last, true).await?;
    ch.close().await;
    Ok(())
}
