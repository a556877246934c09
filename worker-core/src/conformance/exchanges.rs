//! Exchanges: the four types route as RabbitMQ routes, declarations are
//! checked, bindings are idempotent. Exchanges are named `{prefix}.<type>`
//! (durable: the RabbitMQ suite deletes them afterwards).

use super::*;
use crate::broker::{Binding, ExchangeKind, Headers};

/// Publishes `(routing key, headers)` messages to `exchange`, each with
/// its routing key as body; `Unroutable` ones are tolerated (counted by
/// the queues that do not get them).
async fn publish_all<C: Channel>(ch: &C, exchange: &str, messages: &[(&str, Headers)]) -> Outcome {
    for (key, headers) in messages {
        let properties = Properties::default().with_headers(headers.clone());
        match timeout(WAIT, ch.publish(exchange, key, key.as_bytes(), &properties)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.kind == BrokerErrorKind::Unroutable => {}
            Ok(Err(e)) => return Err(format!("publish `{key}` to `{exchange}`: {e}")),
            Err(_) => return Err(format!("publish `{key}` to `{exchange}`: timed out")),
        }
    }
    Ok(())
}

/// Declares `exchange` of `kind`, and one queue per `(suffix, bindings)`
/// bound with those bindings (route syntax: `order.*`, `a=1 & b=2`).
async fn topology<C: Channel>(
    ch: &C,
    prefix: &str,
    kind: ExchangeKind,
    queues: &[(&str, &[&str])],
) -> Result<String, String> {
    let exchange = format!("{prefix}.{kind}");
    step(
        &format!("declare {kind} exchange `{exchange}`"),
        ch.declare_exchange(&exchange, kind),
    )
    .await?;
    step(
        &format!("declare `{exchange}` again"),
        ch.declare_exchange(&exchange, kind),
    )
    .await?;
    for (suffix, bindings) in queues {
        let q = format!("{prefix}.{suffix}");
        declare(ch, &q, QueueOptions::default()).await?;
        let bindings: Vec<&str> = if bindings.is_empty() {
            vec![""]
        } else {
            bindings.to_vec()
        };
        for b in bindings {
            let binding = Binding::of_route(&exchange, kind, b);
            // Twice: binding is idempotent.
            for _ in 0..2 {
                step(
                    &format!("bind `{q}` with {binding}"),
                    ch.bind_queue(&q, &binding),
                )
                .await?;
            }
        }
    }
    Ok(exchange)
}

/// Consumes `queue` and checks that it holds exactly `expected` (bodies,
/// in publish order).
async fn holds<C: Channel>(ch: &C, prefix: &str, suffix: &str, expected: &[&str]) -> Outcome {
    let q = format!("{prefix}.{suffix}");
    let mut stream = consume(ch, &[&q]).await?;
    let got = recv_bodies(&mut stream, expected, &format!("queue `{q}`")).await?;
    quiet(&mut stream, &format!("queue `{q}` after {expected:?}")).await?;
    if let Some(last) = got.last() {
        ack(ch, last.tag, true).await?;
    }
    Ok(())
}

fn no_headers(keys: &[&'static str]) -> Vec<(&'static str, Headers)> {
    keys.iter().map(|k| (*k, Headers::new())).collect()
}

/// A topic exchange: `*` is one word, `#` zero or more, a queue bound
/// twice gets a message once.
pub async fn topic_exchange<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let ch = open(broker).await?;
    let exchange = topology(
        &ch,
        prefix,
        ExchangeKind::Topic,
        &[
            ("orders", &["order.*"]),
            ("everything", &["#"]),
            ("invoices", &["invoice.#", "*.sent"]),
            ("late", &["#.late"]),
        ],
    )
    .await?;
    let keys = [
        "order.created",
        "order.paid",
        "invoice.sent",
        "invoice.sent.late",
        "order",
    ];
    publish_all(&ch, &exchange, &no_headers(&keys)).await?;
    holds(&ch, prefix, "orders", &["order.created", "order.paid"]).await?;
    holds(&ch, prefix, "everything", &keys).await?;
    holds(
        &ch,
        prefix,
        "invoices",
        &["invoice.sent", "invoice.sent.late"],
    )
    .await?;
    holds(&ch, prefix, "late", &["invoice.sent.late"]).await?;
    ch.close().await;
    Ok(())
}

/// A direct exchange routes by the exact key; `*` is no wildcard there.
pub async fn direct_exchange<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let ch = open(broker).await?;
    let exchange = topology(
        &ch,
        prefix,
        ExchangeKind::Direct,
        &[
            ("created", &["order.created"]),
            ("both", &["order.created", "order.paid"]),
        ],
    )
    .await?;
    let keys = ["order.created", "order.paid", "order.*", "order"];
    publish_all(&ch, &exchange, &no_headers(&keys)).await?;
    holds(&ch, prefix, "created", &["order.created"]).await?;
    holds(&ch, prefix, "both", &["order.created", "order.paid"]).await?;
    ch.close().await;
    Ok(())
}

/// A fanout exchange gives every message to every bound queue.
pub async fn fanout_exchange<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let ch = open(broker).await?;
    let exchange = topology(&ch, prefix, ExchangeKind::Fanout, &[("a", &[]), ("b", &[])]).await?;
    let keys = ["x", "", "y.z"];
    publish_all(&ch, &exchange, &no_headers(&keys)).await?;
    holds(&ch, prefix, "a", &keys).await?;
    holds(&ch, prefix, "b", &keys).await?;
    ch.close().await;
    Ok(())
}

/// A headers exchange: `all` needs every pair, `any` one; values compare
/// by type (the string `"1"` is not the integer 1); the routing key is
/// ignored.
pub async fn headers_exchange<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let ch = open(broker).await?;
    let exchange = topology(
        &ch,
        prefix,
        ExchangeKind::Headers,
        &[
            ("all", &["format=pdf & type=report"]),
            ("any", &["format=pdf | type=report"]),
        ],
    )
    .await?;
    let h = |pairs: &[(&str, AmqpValue)]| -> Headers {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let s = |v: &str| AmqpValue::from(v);
    let messages = [
        (
            "both",
            h(&[
                ("format", s("pdf")),
                ("type", s("report")),
                ("other", s("x")),
            ]),
        ),
        ("format", h(&[("format", s("pdf"))])),
        ("type", h(&[("type", s("report"))])),
        ("neither", h(&[("format", s("zip"))])),
        (
            "typed",
            h(&[("format", AmqpValue::Int(1)), ("type", s("invoice"))]),
        ),
    ];
    publish_all(&ch, &exchange, &messages).await?;
    holds(&ch, prefix, "all", &["both"]).await?;
    holds(&ch, prefix, "any", &["both", "format", "type"]).await?;
    ch.close().await;
    Ok(())
}

/// Declaring an exchange with another type is refused, a passive check of
/// a missing exchange is `ExchangeNotFound`, and so is a binding to one.
pub async fn exchange_checks<B: Broker>(broker: &B, prefix: &str) -> Outcome {
    let exchange = format!("{prefix}.topic");
    let missing = format!("{prefix}.missing");
    let q = format!("{prefix}.q");
    let ch = open(broker).await?;
    step(
        "declare",
        ch.declare_exchange(&exchange, ExchangeKind::Topic),
    )
    .await?;
    declare(&ch, &q, QueueOptions::default()).await?;
    step("check an existing exchange", ch.check_exchange(&exchange)).await?;
    step("check amq.topic", ch.check_exchange("amq.topic")).await?;
    step("check amq.headers", ch.check_exchange("amq.headers")).await?;
    let other = timeout(WAIT, ch.declare_exchange(&exchange, ExchangeKind::Fanout)).await;
    ensure!(
        matches!(&other, Ok(Err(e)) if e.kind == BrokerErrorKind::Refused),
        "redeclaring a topic exchange as fanout: expected Refused, got {other:?}"
    );
    let absent = timeout(WAIT, ch.check_exchange(&missing)).await;
    ensure!(
        matches!(&absent, Ok(Err(e)) if e.kind == BrokerErrorKind::ExchangeNotFound),
        "check_exchange on a missing exchange: expected ExchangeNotFound, got {absent:?}"
    );
    let bound = timeout(WAIT, ch.bind_queue(&q, &Binding::new(&missing, "k"))).await;
    ensure!(
        matches!(&bound, Ok(Err(e)) if e.kind == BrokerErrorKind::ExchangeNotFound),
        "binding to a missing exchange: expected ExchangeNotFound, got {bound:?}"
    );
    let unbound = timeout(
        WAIT,
        ch.bind_queue(&format!("{prefix}.nope"), &Binding::new(&exchange, "k")),
    )
    .await;
    ensure!(
        matches!(&unbound, Ok(Err(e)) if e.kind == BrokerErrorKind::QueueNotFound),
        "binding a missing queue: expected QueueNotFound, got {unbound:?}"
    );
    ch.close().await;
    Ok(())
}
