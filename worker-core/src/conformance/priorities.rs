//! Message priorities: a classic queue with `x-max-priority` delivers by
//! priority, a classic queue without it in publish order, and a quorum
//! queue by priority on the versions that order them.

use super::*;

/// Publishes `body` to `queue` with `priority` (none: no priority).
async fn send_with<C: Channel>(
    channel: &C,
    queue: &str,
    body: &str,
    priority: Option<u8>,
) -> Outcome {
    let properties = match priority {
        Some(p) => Properties::default().with_priority(p),
        None => Properties::default(),
    };
    step(
        &format!("publish `{body}` with priority {priority:?} to `{queue}`"),
        channel.publish("", queue, body.as_bytes(), &properties),
    )
    .await
}

/// The messages of [`published_then_consumed`]: (body, priority), in
/// publish order.
const MESSAGES: &[(&str, Option<u8>)] = &[
    ("none", None),
    ("p3", Some(3)),
    ("p9", Some(9)),
    ("p40", Some(40)),
    ("p3b", Some(3)),
    ("p0", Some(0)),
    ("p31", Some(31)),
    ("p12", Some(12)),
];

/// Declares `q`, publishes [`MESSAGES`] before any consumer, then
/// consumes them: the bodies in delivery order.
async fn published_then_consumed<B: Broker>(
    broker: &B,
    q: &str,
    options: QueueOptions,
) -> Result<Vec<String>, String> {
    let ch = open(broker).await?;
    declare(&ch, q, options).await?;
    for (body, priority) in MESSAGES {
        send_with(&ch, q, body, *priority).await?;
    }
    // Each publish waited for its confirm: every message is stored before
    // the consumer comes, so the order is the queue's.
    let mut stream = consume(&ch, &[q]).await?;
    let mut got = Vec::new();
    for _ in MESSAGES {
        let d = recv(&mut stream, "a message of the priority queue").await?;
        got.push(text(&d));
        ack(&ch, d.tag, false).await?;
    }
    ch.close().await;
    Ok(got)
}

/// `x-max-priority = 10`: the highest priority first, FIFO within one,
/// priorities above 10 counting as 10 and a message without one as 0; a
/// classic queue without the argument keeps publish order.
pub async fn classic_priorities<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let options = QueueOptions::durable().with_max_priority(10);
    let got = published_then_consumed(broker, &format!("{prefix}.max10"), options).await?;
    let expected = ["p40", "p31", "p12", "p9", "p3", "p3b", "none", "p0"];
    ensure!(
        got == expected,
        "x-max-priority 10: expected {expected:?}, got {got:?}"
    );
    let got = published_then_consumed(broker, &format!("{prefix}.plain"), QueueOptions::durable())
        .await?;
    let fifo: Vec<&str> = MESSAGES.iter().map(|(body, _)| *body).collect();
    ensure!(
        got == fifo,
        "a classic queue without x-max-priority: expected publish order {fifo:?}, got {got:?}"
    );
    Ok(())
}

/// Quorum queues: by priority on RabbitMQ 4.3 (levels 0 to 31, above 31
/// counting as 31, none as 4), two levels served two to one on 4.0 to 4.2, in
/// publish order before 4.0; and `x-max-priority` is refused on them.
pub async fn quorum_priorities<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let quorum = QueueOptions {
        quorum: true,
        ..QueueOptions::durable()
    };
    let got = published_then_consumed(broker, &format!("{prefix}.quorum"), quorum.clone()).await?;
    let version = broker
        .version()
        .ok_or_else(|| "the broker's version is unknown".to_owned())?;
    let fifo: Vec<&str> = MESSAGES.iter().map(|(body, _)| *body).collect();
    let expected: Vec<&str> = match version.quorum_priority_levels() {
        // A message without a priority counts as 4 (AMQP's default).
        Some(32) => vec!["p40", "p31", "p12", "p9", "none", "p3", "p3b", "p0"],
        // Two levels (4.0 to 4.2): 5 and above are high, and while both
        // levels wait two high messages go for one normal (measured on
        // 4.0.5).
        Some(_) => vec!["p9", "p40", "none", "p31", "p12", "p3", "p3b", "p0"],
        None => fifo,
    };
    ensure!(
        got == expected,
        "a quorum queue on RabbitMQ {version}: expected {expected:?}, got {got:?}"
    );
    let ch = open(broker).await?;
    let refused = ch
        .declare_queue(
            &format!("{prefix}.quorum-max"),
            &quorum.with_max_priority(5),
        )
        .await;
    ensure!(
        refused.is_err(),
        "a quorum queue declared with x-max-priority was accepted"
    );
    Ok(())
}
