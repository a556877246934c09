//! The [`Broker`] trait that the batching consumer is generic over, and
//! what brokers deliver ([`Delivery`]).
//!
//! RabbitMQ (`worker-rabbitmq`) and the embedded broker ([`crate::memory`])
//! implement it, so both run exactly the same consumer, batching and
//! settlement code; the conformance suite (`crate::conformance`, feature
//! `conformance`) holds both to the same behaviour.

mod delivery;
mod exchange;
mod publish;
mod queue;
mod record;
mod settle;
mod version;

use std::future::Future;

pub use bytes::Bytes;
pub use delivery::{AmqpValue, Delivery, Headers, Properties, AMQP_FRAME_MAX, MAX_HEADER_DEPTH};
pub(crate) use delivery::{
    DEATH_REASON_HEADER, DELIVERY_COUNT_HEADER, ORIGINAL_QUEUE_HEADER, RETRY_COUNT_HEADER,
};
pub use exchange::{headers_match, topic_matches, Binding, ExchangeKind};
pub(crate) use publish::first_failure;
pub use publish::{Outgoing, PublishError};
pub use queue::{ConsumeOptions, DeliveryLimit, Inspected, QueueArgument, QueueOptions};
pub use record::Record;
pub(crate) use record::{Hold, SlotLock};
pub(crate) use settle::Settle;
pub use version::BrokerVersion;

use crate::error::BrokerError;

fn unsupported(what: &str) -> BrokerError {
    BrokerError::new(
        crate::error::BrokerErrorKind::Unsupported,
        format!("this broker cannot do {what}"),
    )
}

/// A connection to a broker that can open channels.
///
/// `channel` (re)establishes the underlying connection when it is down; the
/// runtime calls it again, with backoff, after any failure.
pub trait Broker: Send + Sync + 'static {
    /// A channel: the unit that owns prefetch, consumers and delivery tags.
    type Channel: Channel;

    /// Opens a channel, connecting first if needed.
    fn channel(&self) -> impl Future<Output = Result<Self::Channel, BrokerError>> + Send;

    /// The broker's address with any password masked, for logs.
    fn describe(&self) -> String;

    /// Whether the connection is currently up.
    fn is_connected(&self) -> bool;

    /// The version of the broker the connection reached (after a
    /// `channel()` call), when it is known; the embedded broker answers
    /// [`BrokerVersion::EMBEDDED`].
    fn version(&self) -> Option<BrokerVersion> {
        None
    }

    /// Closes the connection (graceful shutdown).
    fn close(&self) -> impl Future<Output = ()> + Send;

    /// The type and arguments of an existing queue, for `check --drift`:
    /// `Ok(None)` when it does not exist, `Err` with the reason when the
    /// broker cannot say (a passive declare does not return arguments:
    /// RabbitMQ answers through its management API, when configured).
    fn inspect_queue(
        &self,
        queue: &str,
    ) -> impl Future<Output = Result<Option<Inspected>, BrokerError>> + Send {
        let _ = queue;
        async { Err(unsupported("a queue's arguments")) }
    }

    /// The kind of an existing exchange, for `check --drift`: `Ok(None)`
    /// when it does not exist, `Err` when the broker cannot say (RabbitMQ
    /// answers through its management API).
    fn inspect_exchange(
        &self,
        exchange: &str,
    ) -> impl Future<Output = Result<Option<String>, BrokerError>> + Send {
        let _ = exchange;
        async { Err(unsupported("an exchange's type")) }
    }

    /// The bindings of an existing queue to named exchanges (the default
    /// exchange's implicit one left out), for `check --drift`.
    fn inspect_bindings(
        &self,
        queue: &str,
    ) -> impl Future<Output = Result<Vec<Binding>, BrokerError>> + Send {
        let _ = queue;
        async { Err(unsupported("a queue's bindings")) }
    }

    /// For an address that lists several nodes: each node (masked) and
    /// whether it accepts a connection, for `check`. Empty for one node.
    fn probe_nodes(&self) -> impl Future<Output = Vec<(String, Result<(), BrokerError>)>> + Send {
        async { Vec::new() }
    }
}

/// One channel. Delivery tags are scoped to it.
pub trait Channel: Send + Sync + 'static {
    /// The stream of deliveries of this channel's consumers.
    type Deliveries: Deliveries;

    /// Whether the channel and its connection are open, as far as the
    /// client knows. The runtime checks it while batches wait for a slot,
    /// so that batches in flight lose their ownership as soon as the
    /// client knows the channel is gone, not when the deliveries buffered
    /// before the failure have been read. The default: always open.
    fn is_open(&self) -> bool {
        true
    }

    /// Sets the prefetch window (`basic.qos`), before consuming.
    fn qos(&self, prefetch: u16) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Checks that a queue exists (a passive declare); `QueueNotFound` if not.
    fn check_queue(&self, queue: &str) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Declares a queue (idempotent when the options match).
    fn declare_queue(
        &self,
        queue: &str,
        options: &QueueOptions,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Declares a durable exchange of `kind` (idempotent for the same
    /// kind; `Refused` for another one, as the broker answers
    /// `PRECONDITION_FAILED`).
    fn declare_exchange(
        &self,
        exchange: &str,
        kind: ExchangeKind,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        let _ = (exchange, kind);
        async { Err(unsupported("declaring exchanges")) }
    }

    /// Checks that an exchange exists (a passive declare);
    /// `ExchangeNotFound` if not.
    fn check_exchange(
        &self,
        exchange: &str,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        let _ = exchange;
        async { Err(unsupported("checking exchanges")) }
    }

    /// Binds `queue` to the binding's exchange (`queue.bind`, idempotent).
    fn bind_queue(
        &self,
        queue: &str,
        binding: &Binding,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        let _ = (queue, binding);
        async { Err(unsupported("binding queues")) }
    }

    /// Starts one consumer per queue; all of them feed the returned stream.
    fn consume(
        &self,
        queues: &[&str],
        consumer_tag: &str,
    ) -> impl Future<Output = Result<Self::Deliveries, BrokerError>> + Send;

    /// [`consume`](Self::consume) with consumer arguments. The default
    /// ignores them.
    fn consume_with(
        &self,
        queues: &[&str],
        consumer_tag: &str,
        options: &ConsumeOptions,
    ) -> impl Future<Output = Result<Self::Deliveries, BrokerError>> + Send {
        let _ = options;
        self.consume(queues, consumer_tag)
    }

    /// Acks `tag`, or every unsettled tag up to it with `multiple`.
    fn ack(&self, tag: u64, multiple: bool)
        -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Rejects one delivery (`basic.reject`): a failed delivery attempt,
    /// returned to the queue with `requeue` (counted towards a quorum
    /// queue's delivery limit on every RabbitMQ version), else discarded or
    /// dead-lettered. The default is [`nack`](Self::nack).
    fn reject(
        &self,
        tag: u64,
        requeue: bool,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        self.nack(tag, false, requeue)
    }

    /// Negatively acks `tag` (or every unsettled tag up to it), returning the
    /// message(s) to the queue with `requeue` (not counted as a delivery
    /// attempt by RabbitMQ 4.3's quorum queues: the runtime returns
    /// messages it did not handle this way), else discarding or
    /// dead-lettering them.
    fn nack(
        &self,
        tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Publishes a message and waits for the broker's confirm.
    fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &Properties,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Publishes `messages` pipelined (each sent without waiting for the
    /// confirm of the one before), then waits for every confirm; the result
    /// of each, in order. After a failure that closes the channel the
    /// following messages fail too. The default publishes one at a time.
    fn publish_each(
        &self,
        messages: &[Outgoing<'_>],
    ) -> impl Future<Output = Vec<Result<(), BrokerError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(messages.len());
            for m in messages {
                results.push(
                    self.publish(m.exchange, m.routing_key, m.body, m.properties)
                        .await,
                );
            }
            results
        }
    }

    /// Whether this channel's consumer of `queue` is the one that gets its
    /// messages: on a single-active-consumer queue, `Some(false)` while it
    /// stands by. `None` when the broker cannot tell (RabbitMQ says so only
    /// through its management API) or the channel does not consume `queue`.
    fn consumer_active(&self, queue: &str) -> impl Future<Output = Option<bool>> + Send {
        let _ = queue;
        async { None }
    }

    /// Cancels this channel's consumers (`basic.cancel`): the stream ends
    /// after the deliveries already sent.
    fn cancel(&self) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Closes the channel. Unsettled deliveries return to their queues.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// The deliveries of a channel's consumers.
pub trait Deliveries: Send + 'static {
    /// The next delivery; `None` once consumers were cancelled, an error when
    /// the channel or connection was lost.
    fn next(&mut self) -> impl Future<Output = Option<Result<Delivery, BrokerError>>> + Send;
}
