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

use crate::broker::{
    AmqpValue, Broker, Channel, Deliveries, Delivery, Outgoing, Properties, QueueOptions,
};
use crate::error::{BrokerError, BrokerErrorKind};

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

// After `ensure!`: macros are in scope from their definition on.
mod broadcast;
mod delivery;
mod exchanges;
mod priorities;
mod single_active;
mod topology;
mod versions;

pub use broadcast::*;
pub use delivery::*;
pub use exchanges::*;
pub use priorities::*;
pub use single_active::*;
pub use topology::*;
pub use versions::*;

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
fn first_death(d: &Delivery) -> Result<&crate::broker::Headers, String> {
    match d.properties.headers.get("x-death") {
        Some(AmqpValue::Array(entries)) => match entries.first() {
            Some(AmqpValue::Table(t)) => Ok(t),
            other => Err(format!("x-death's first entry is not a table: {other:?}")),
        },
        other => Err(format!(
            "expected an `x-death` array header, got {other:?} (headers: {:?})",
            d.properties.headers
        )),
    }
}

/// Calls macro `$m` with the name of every behaviour of the suite, so a
/// broker's tests can make one test per behaviour without listing them:
/// `worker_core::conformance_behaviours!(my_tests);` expands to
/// `my_tests!(publish_consume_ack, prefetch_window, ...);`.
#[macro_export]
macro_rules! conformance_behaviours {
    ($m:ident) => {
        $m!(
            publish_consume_ack,
            prefetch_window,
            multiple_ack,
            nack_requeue_to_head,
            quorum_delivery_count,
            quorum_delivery_limit,
            single_active_consumer,
            nack_dead_letter,
            ttl_delay_queue,
            close_redelivers_unacked,
            check_missing_queue,
            shared_tag_space,
            cancel_ends_stream,
            properties_round_trip,
            empty_body,
            unroutable_publish,
            pipelined_publish,
            nack_counts_by_version,
            default_delivery_limit,
            single_active_priority,
            consumer_priority,
            classic_priorities,
            quorum_priorities,
            runtime_queues_are_accepted,
            topic_exchange,
            direct_exchange,
            fanout_exchange,
            headers_exchange,
            exchange_checks,
            broadcast_queues,
        );
    };
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
    crate::conformance_behaviours!(run);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}
