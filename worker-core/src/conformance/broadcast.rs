//! Broadcast queues: each consumer (a process of a `broadcast` route) has
//! an exclusive, auto-delete queue of its own bound to one exchange.

use super::*;
use crate::broker::{Binding, ExchangeKind};

/// Whether `queue` exists, asked on a channel of its own (a passive
/// declare of a missing queue closes the channel on RabbitMQ).
async fn exists<B: Broker>(broker: &B, queue: &str) -> Result<bool, String> {
    let ch = open(broker).await?;
    let found = match timeout(WAIT, ch.check_queue(queue)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) if e.kind == BrokerErrorKind::QueueNotFound => false,
        Ok(Err(e)) => return Err(format!("check `{queue}`: {e}")),
        Err(_) => return Err(format!("check `{queue}`: timed out")),
    };
    ch.close().await;
    Ok(found)
}

/// Waits (up to [`WAIT`]) until `queue`, whose channel closed, is gone:
/// RabbitMQ deletes it after answering the close.
async fn deleted<B: Broker>(broker: &B, queue: &str) -> Outcome {
    let deadline = Instant::now() + WAIT;
    while exists(broker, queue).await? {
        ensure!(
            Instant::now() < deadline,
            "`{queue}` still exists {WAIT:?} after its channel closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn publish<C: Channel>(ch: &C, exchange: &str, body: &str) -> Outcome {
    step(
        &format!("publish `{body}` to `{exchange}`"),
        ch.publish(exchange, "", body.as_bytes(), &Properties::default()),
    )
    .await
}

/// Three consumers, each on its own channel with an exclusive, auto-delete
/// queue bound to one fanout exchange, all get every message; when one
/// channel closes its queue is deleted, and the other two keep getting
/// every message.
pub async fn broadcast_queues<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let exchange = format!("{prefix}.fanout");
    let setup = open(broker).await?;
    step(
        &format!("declare fanout exchange `{exchange}`"),
        setup.declare_exchange(&exchange, ExchangeKind::Fanout),
    )
    .await?;
    let options = QueueOptions::default()
        .with_exclusive(true)
        .with_auto_delete(true);
    let mut consumers = Vec::new();
    for i in 0..3 {
        let ch = open(broker).await?;
        let q = format!("{prefix}.process{i}");
        declare(&ch, &q, options.clone()).await?;
        step(
            &format!("bind `{q}` to `{exchange}`"),
            ch.bind_queue(&q, &Binding::new(&exchange, "")),
        )
        .await?;
        let stream = consume(&ch, &[&q]).await?;
        consumers.push((ch, q, stream));
    }
    publish(&setup, &exchange, "first").await?;
    for (ch, q, stream) in &mut consumers {
        let d = recv(stream, &format!("`first` on `{q}`")).await?;
        ensure!(text(&d) == "first", "`{q}` got `{}`", text(&d));
        ack(ch, d.tag, false).await?;
    }
    let (gone, gone_queue, _) = consumers.remove(0);
    gone.close().await;
    deleted(broker, &gone_queue).await?;
    publish(&setup, &exchange, "second").await?;
    for (ch, q, stream) in &mut consumers {
        let d = recv(stream, &format!("`second` on `{q}`")).await?;
        ensure!(text(&d) == "second", "`{q}` got `{}`", text(&d));
        ack(ch, d.tag, false).await?;
        quiet(stream, &format!("`{q}` after `second`")).await?;
    }
    for (ch, q, _) in consumers {
        ch.close().await;
        deleted(broker, &q).await?;
    }
    setup.close().await;
    Ok(())
}
