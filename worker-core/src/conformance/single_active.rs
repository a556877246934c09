//! Behaviours of single-active-consumer queues (`x-single-active-consumer`).

use super::*;

/// Of three consumers of a single-active-consumer queue, only the first
/// gets messages (the window it frees by an ack is refilled to it); when its
/// channel closes, its unacked messages and the rest of the queue go, in
/// order, to the next consumer alone. Where the
/// broker answers [`Channel::consumer_active`], it names the active one.
pub async fn single_active_consumer<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let q = format!("{prefix}.sac");
    let setup = open(broker).await?;
    let options = QueueOptions {
        durable: true,
        single_active: true,
        ..QueueOptions::default()
    };
    declare(&setup, &q, options).await?;
    let sent = bodies("m", 0..6);
    for body in &sent {
        send(&setup, &q, body).await?;
    }
    let first = open(broker).await?;
    step("qos(3)", first.qos(3)).await?;
    let mut first_stream = consume(&first, &[&q]).await?;
    let got = recv_bodies(&mut first_stream, &refs(&sent[..3]), "the active consumer").await?;
    ack(&first, got[0].tag, false).await?;
    // The ack opened the window: the fourth message goes to it too.
    recv_bodies(&mut first_stream, &refs(&sent[3..4]), "the active consumer").await?;

    let second = open(broker).await?;
    let mut second_stream = consume(&second, &[&q]).await?;
    let third = open(broker).await?;
    let mut third_stream = consume(&third, &[&q]).await?;
    quiet(&mut second_stream, "a standby consumer").await?;
    quiet(&mut third_stream, "a standby consumer").await?;
    names_active(&first, &q, true, "the first consumer").await?;
    names_active(&second, &q, false, "a standby consumer").await?;

    first.close().await;
    let rest = recv_bodies(&mut second_stream, &refs(&sent[1..]), "after the takeover").await?;
    ensure!(
        rest.iter().map(|d| d.redelivered).eq([true, true, true, false, false]),
        "the closed consumer's unacked messages come back flagged redelivered, the others not: {:?}",
        rest.iter().map(|d| d.redelivered).collect::<Vec<_>>()
    );
    quiet(&mut third_stream, "the consumer after the new active one").await?;
    names_active(&second, &q, true, "the consumer that took over").await?;
    ack(&second, rest[4].tag, true).await?;
    for ch in [second, third, setup] {
        ch.close().await;
    }
    Ok(())
}

/// Checks [`Channel::consumer_active`] where the broker can tell.
async fn names_active<C: Channel>(channel: &C, queue: &str, expected: bool, who: &str) -> Outcome {
    match channel.consumer_active(queue).await {
        None => Ok(()),
        Some(active) => {
            ensure!(
                active == expected,
                "{who}: consumer_active says {active}, expected {expected}"
            );
            Ok(())
        }
    }
}
