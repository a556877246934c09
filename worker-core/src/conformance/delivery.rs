//! Behaviours of deliveries: consuming, prefetch, acks, nacks, cancel,
//! close, properties.

use super::*;

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

/// A quorum queue counts failed deliveries (`x-delivery-count`: absent on
/// the first with RabbitMQ 4.x, 0 with 3.10, then 1, 2): after
/// `basic.reject(requeue)`, [`Delivery::delivery_count`] reads 1, 2, 3 on
/// every version. A classic queue does not count: a redelivered message's
/// count is unknown.
pub async fn quorum_delivery_count<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.quorum");
    let ch = open(broker).await?;
    let quorum = QueueOptions {
        durable: true,
        quorum: true,
        ..QueueOptions::default()
    };
    declare(&ch, &q, quorum).await?;
    send(&ch, &q, "m").await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let mut counts = Vec::new();
    for attempt in 1..=3 {
        let d = recv(&mut stream, "a delivery from the quorum queue").await?;
        counts.push(d.delivery_count());
        if attempt < 3 {
            step("reject(requeue)", ch.reject(d.tag, true)).await?;
        } else {
            ack(&ch, d.tag, false).await?;
        }
    }
    ensure!(
        counts == [Some(1), Some(2), Some(3)],
        "quorum queue delivery counts: expected 1, 2, 3, got {counts:?}"
    );
    let c = format!("{prefix}.classic");
    declare(&ch, &c, QueueOptions::default()).await?;
    send(&ch, &c, "m").await?;
    let mut stream = consume(&ch, &[&c]).await?;
    let first = recv(&mut stream, "a delivery from the classic queue").await?;
    ensure!(
        first.delivery_count() == Some(1),
        "a first delivery is number 1, got {:?}",
        first.delivery_count()
    );
    step("nack(requeue)", ch.nack(first.tag, false, true)).await?;
    let again = recv(&mut stream, "the classic redelivery").await?;
    ensure!(
        again.delivery_count().is_none(),
        "a classic queue does not count redeliveries, got {:?} (headers {:?})",
        again.delivery_count(),
        again.properties.headers
    );
    ack(&ch, again.tag, false).await?;
    ch.close().await;
    Ok(())
}

/// A quorum queue with `delivery_limit = 2` and a dead-letter exchange: a
/// message rejected with requeue every time is delivered 3 times (counts
/// 1, 2, 3), then dead-lettered with reason `delivery_limit`.
pub async fn quorum_delivery_limit<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let dlq = format!("{prefix}.dlq");
    let q = format!("{prefix}.limited");
    let ch = open(broker).await?;
    declare(&ch, &dlq, QueueOptions::durable()).await?;
    let limited = QueueOptions {
        durable: true,
        quorum: true,
        delivery_limit: Some(crate::broker::DeliveryLimit::Limited(2)),
        dead_letter_exchange: Some(String::new()),
        dead_letter_routing_key: Some(dlq.clone()),
        ..QueueOptions::default()
    };
    declare(&ch, &q, limited).await?;
    send(&ch, &q, "m").await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let mut counts = Vec::new();
    for _ in 0..3 {
        let d = recv(&mut stream, "a delivery under the limit").await?;
        counts.push(d.delivery_count());
        step("reject(requeue)", ch.reject(d.tag, true)).await?;
    }
    ensure!(
        counts == [Some(1), Some(2), Some(3)],
        "delivery counts under delivery_limit 2: {counts:?}"
    );
    quiet(&mut stream, "a delivery past the delivery limit").await?;
    let mut dl_stream = consume(&ch, &[&dlq]).await?;
    let d = recv(&mut dl_stream, "the message dead-lettered at the limit").await?;
    let death = first_death(&d)?;
    ensure!(
        death.get("reason").and_then(AmqpValue::as_str) == Some("delivery_limit"),
        "x-death reason: expected `delivery_limit`, got {:?}",
        death.get("reason")
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
        ("text", AmqpValue::from("value")),
        ("number", AmqpValue::Int(42)),
        ("negative", AmqpValue::Int(-7)),
        ("flag", AmqpValue::Bool(true)),
    ];
    for (name, value) in &headers {
        properties.headers.insert((*name).into(), value.clone());
    }
    let body = [0u8, 159, 146, 150, 255, b'{'];
    step("publish", ch.publish("", &q, &body, &properties)).await?;
    let mut stream = consume(&ch, &[&q]).await?;
    let d = recv(&mut stream, "the message").await?;
    ensure!(
        d.body == body[..],
        "body: expected {body:?}, got {:?}",
        d.body
    );
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
