//! One AMQP channel with publisher confirms: the runtime's
//! [`Channel`](worker_core::backend::broker::Channel).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Confirmation, Connection, PublisherConfirm};
use worker_core::backend::broker::{
    Binding, Channel, ConsumeOptions, ExchangeKind, Outgoing, QueueArgument, QueueOptions,
};
use worker_core::backend::broker::{BrokerVersion, Properties};
use worker_core::backend::error::{BrokerError, BrokerErrorKind};

use crate::deliveries::{QueueConsumer, RabbitDeliveries};
use crate::error;
use crate::headers::short_string;
use crate::properties::to_basic;

/// A channel of a [`RabbitBroker`](crate::RabbitBroker) connection, in
/// publisher-confirm mode. Delivery tags are scoped to it.
pub struct RabbitChannel {
    channel: lapin::Channel,
    connection: Arc<Connection>,
    consumer_tags: Mutex<Vec<ShortString>>,
    cancelled: Arc<AtomicBool>,
    /// The broker's version, when known: what queue arguments mean.
    version: Option<BrokerVersion>,
}

impl std::fmt::Debug for RabbitChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitChannel")
            .field("id", &self.channel.id())
            .field("status", self.channel.status())
            .finish()
    }
}

impl RabbitChannel {
    /// Sends one `basic.publish` (mandatory: an unroutable message comes
    /// back as `basic.return` instead of being confirmed and dropped); the
    /// confirm to wait for.
    async fn send_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &Properties,
    ) -> Result<PublisherConfirm, BrokerError> {
        let exchange_name = short_string("exchange name", exchange)?;
        let key = short_string("routing key", routing_key)?;
        let properties = to_basic(properties)?;
        self.channel
            .basic_publish(
                exchange_name,
                key,
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties,
            )
            .await
            .map_err(|e| self.fail("basic.publish", &e))
    }

    /// Waits for the broker's answer to one publish.
    async fn confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        confirm: PublisherConfirm,
    ) -> Result<(), BrokerError> {
        match confirm
            .await
            .map_err(|e| self.fail("publisher confirm", &e))?
        {
            Confirmation::Ack(Some(_)) => Err(BrokerError::unroutable(exchange, routing_key)),
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Nack(_) => Err(nacked(exchange, routing_key)),
        }
    }

    pub(crate) fn new(
        channel: lapin::Channel,
        connection: Arc<Connection>,
        version: Option<BrokerVersion>,
    ) -> Self {
        RabbitChannel {
            channel,
            connection,
            consumer_tags: Mutex::new(Vec::new()),
            cancelled: Arc::new(AtomicBool::new(false)),
            version,
        }
    }

    /// The channel number, for logs.
    pub fn id(&self) -> u16 {
        self.channel.id()
    }

    /// Maps a lapin error; any failure while the connection is down is a
    /// `Connection` error, so the runtime reconnects.
    pub(crate) fn fail(&self, operation: &str, error: &lapin::Error) -> BrokerError {
        let mapped = error::map(operation, error);
        if self.connection.status().connected() {
            mapped
        } else {
            BrokerError::new(BrokerErrorKind::Connection, mapped.message().to_owned())
        }
    }

    /// A short-lived channel for operations whose failure makes RabbitMQ
    /// close the channel (passive and active declares), so that this one
    /// survives them.
    pub(crate) async fn scratch_channel(
        &self,
        operation: &str,
    ) -> Result<lapin::Channel, BrokerError> {
        self.connection
            .create_channel()
            .await
            .map_err(|e| self.fail(operation, &e))
    }

    fn consumer_tags(&self) -> std::sync::MutexGuard<'_, Vec<ShortString>> {
        self.consumer_tags
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The `x-...` arguments of a queue declaration.
pub(crate) fn queue_arguments(
    options: &QueueOptions,
    version: Option<BrokerVersion>,
) -> FieldTable {
    let mut args = FieldTable::default();
    for (name, value) in options.arguments_on(version) {
        let value = match value {
            QueueArgument::Str(s) => AMQPValue::LongString(LongString::from(s)),
            QueueArgument::Int(i) => AMQPValue::LongLongInt(i),
            QueueArgument::Bool(b) => AMQPValue::Boolean(b),
        };
        args.insert(name.into(), value);
    }
    args
}

impl Channel for RabbitChannel {
    type Deliveries = RabbitDeliveries;

    /// lapin's view: `false` once the connection failed (a missed
    /// heartbeat included) or the channel closed.
    fn is_open(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    async fn qos(&self, prefetch: u16) -> Result<(), BrokerError> {
        self.channel
            .basic_qos(prefetch, BasicQosOptions { global: false })
            .await
            .map_err(|e| self.fail("basic.qos", &e))
    }

    async fn check_queue(&self, queue: &str) -> Result<(), BrokerError> {
        let name = short_string("queue name", queue)?;
        let operation = format!("queue.declare (passive) of `{queue}`");
        let probe = self.scratch_channel(&operation).await?;
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        match probe
            .queue_declare(name, options, FieldTable::default())
            .await
        {
            Ok(_) => {
                let _ = probe.close(200, "bye".into()).await;
                Ok(())
            }
            // The broker already closed the probe channel.
            Err(e) if error::is_not_found(&e) => Err(BrokerError::queue_not_found(queue)),
            Err(e) => Err(self.fail(&operation, &e)),
        }
    }

    async fn declare_queue(&self, queue: &str, options: &QueueOptions) -> Result<(), BrokerError> {
        let name = short_string("queue name", queue)?;
        let operation = format!("queue.declare of `{queue}`");
        let declare_options = QueueDeclareOptions {
            // Quorum queues are always durable; declaring one transient is
            // a PRECONDITION_FAILED.
            durable: options.durable || options.quorum,
            exclusive: options.exclusive,
            auto_delete: options.auto_delete,
            ..QueueDeclareOptions::default()
        };
        let scratch = self.scratch_channel(&operation).await?;
        let result = scratch
            .queue_declare(
                name,
                declare_options,
                queue_arguments(options, self.version),
            )
            .await;
        match result {
            Ok(_) => {
                let _ = scratch.close(200, "bye".into()).await;
                Ok(())
            }
            Err(e) => Err(self.fail(&operation, &e)),
        }
    }

    async fn declare_exchange(
        &self,
        exchange: &str,
        kind: ExchangeKind,
    ) -> Result<(), BrokerError> {
        self.exchange(exchange, kind, false).await
    }

    async fn check_exchange(&self, exchange: &str) -> Result<(), BrokerError> {
        self.exchange(exchange, ExchangeKind::Topic, true).await
    }

    async fn bind_queue(&self, queue: &str, binding: &Binding) -> Result<(), BrokerError> {
        self.bind(queue, binding).await
    }

    async fn consume(
        &self,
        queues: &[&str],
        consumer_tag: &str,
    ) -> Result<RabbitDeliveries, BrokerError> {
        self.consume_with(queues, consumer_tag, &ConsumeOptions::default())
            .await
    }

    async fn consume_with(
        &self,
        queues: &[&str],
        consumer_tag: &str,
        options: &ConsumeOptions,
    ) -> Result<RabbitDeliveries, BrokerError> {
        let mut arguments = FieldTable::default();
        if let Some(p) = options.priority {
            arguments.insert("x-priority".into(), AMQPValue::LongInt(p));
        }
        if let Some(t) = options.timeout {
            let millis = i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
            arguments.insert("x-consumer-timeout".into(), AMQPValue::LongLongInt(millis));
        }
        self.cancelled.store(false, Ordering::Release);
        let mut consumers = Vec::with_capacity(queues.len());
        for &queue in queues {
            let name = short_string("queue name", queue)?;
            let tag = short_string("consumer tag", &format!("{consumer_tag}.{queue}"))?;
            let consumer = self
                .channel
                .basic_consume(
                    name,
                    tag.clone(),
                    BasicConsumeOptions::default(),
                    arguments.clone(),
                )
                .await
                .map_err(|e| {
                    if error::is_not_found(&e) {
                        BrokerError::queue_not_found(queue)
                    } else {
                        self.fail(&format!("basic.consume of `{queue}`"), &e)
                    }
                })?;
            self.consumer_tags().push(tag);
            consumers.push(QueueConsumer::new(
                consumer,
                Arc::from(queue),
                self.cancelled.clone(),
                self.connection.status().clone(),
                self.channel.status().clone(),
            ));
        }
        Ok(RabbitDeliveries::new(consumers))
    }

    async fn ack(&self, tag: u64, multiple: bool) -> Result<(), BrokerError> {
        if tag == 0 && multiple {
            return Err(BrokerError::new(
                BrokerErrorKind::Refused,
                "refusing basic.ack of tag 0 with `multiple`: it would ack every unsettled message",
            ));
        }
        queued(self.channel.basic_ack(tag, BasicAckOptions { multiple }))
            .map_err(|e| self.fail("basic.ack", &e))
    }

    async fn nack(&self, tag: u64, multiple: bool, requeue: bool) -> Result<(), BrokerError> {
        if tag == 0 && multiple {
            return Err(BrokerError::new(
                BrokerErrorKind::Refused,
                "refusing basic.nack of tag 0 with `multiple`: it would settle every unsettled message",
            ));
        }
        queued(
            self.channel
                .basic_nack(tag, BasicNackOptions { multiple, requeue }),
        )
        .map_err(|e| self.fail("basic.nack", &e))
    }

    async fn reject(&self, tag: u64, requeue: bool) -> Result<(), BrokerError> {
        queued(
            self.channel
                .basic_reject(tag, lapin::options::BasicRejectOptions { requeue }),
        )
        .map_err(|e| self.fail("basic.reject", &e))
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &Properties,
    ) -> Result<(), BrokerError> {
        let confirm = self
            .send_publish(exchange, routing_key, body, properties)
            .await?;
        self.confirmed(exchange, routing_key, confirm).await
    }

    async fn publish_each(&self, messages: &[Outgoing<'_>]) -> Vec<Result<(), BrokerError>> {
        // Every frame first, then every confirm: one round trip for all.
        let mut sent = Vec::with_capacity(messages.len());
        for m in messages {
            sent.push(
                self.send_publish(m.exchange, m.routing_key, m.body, m.properties)
                    .await,
            );
        }
        let mut answers = Vec::with_capacity(messages.len());
        for confirm in sent {
            answers.push(match confirm {
                Ok(confirm) => confirm
                    .await
                    .map_err(|e| self.fail("publisher confirm", &e)),
                Err(e) => Err(e),
            });
        }
        let returned = returned_owners(messages, &answers);
        messages
            .iter()
            .zip(answers)
            .enumerate()
            .map(|(i, (m, answer))| {
                let confirmation = answer?;
                if returned.contains(&i) {
                    return Err(BrokerError::unroutable(m.exchange, m.routing_key));
                }
                match confirmation {
                    Confirmation::Nack(_) => Err(nacked(m.exchange, m.routing_key)),
                    _ => Ok(()),
                }
            })
            .collect()
    }

    async fn cancel(&self) -> Result<(), BrokerError> {
        self.cancelled.store(true, Ordering::Release);
        let tags = std::mem::take(&mut *self.consumer_tags());
        let mut first_error = None;
        for tag in tags {
            if let Err(e) = self
                .channel
                .basic_cancel(tag.clone(), BasicCancelOptions::default())
                .await
            {
                first_error
                    .get_or_insert_with(|| self.fail(&format!("basic.cancel of `{tag}`"), &e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn close(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.consumer_tags().clear();
        if self.channel.status().connected() {
            if let Err(e) = self.channel.close(200, "bye".into()).await {
                tracing::debug!(channel = self.channel.id(), error = %e, "closing channel");
            }
        }
    }
}

/// Which of `messages` the broker returned (`basic.return`): for pipelined
/// publishes lapin hands a returned message to the first confirm it
/// completes after the return, which under a multiple-ack is an earlier
/// message of the same ack than the one returned. The returned message
/// names its exchange and routing key, so it belongs to the first message
/// from there on that was sent with them and is not already claimed.
fn returned_owners(
    messages: &[Outgoing<'_>],
    answers: &[Result<Confirmation, BrokerError>],
) -> Vec<usize> {
    let mut owners = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        let (Ok(Confirmation::Ack(Some(r))) | Ok(Confirmation::Nack(Some(r)))) = answer else {
            continue;
        };
        let (exchange, key) = (
            r.delivery.exchange.as_str(),
            r.delivery.routing_key.as_str(),
        );
        let owner = (i..messages.len())
            .find(|&j| {
                !owners.contains(&j)
                    && messages[j].exchange == exchange
                    && messages[j].routing_key == key
            })
            .unwrap_or(i);
        owners.push(owner);
    }
    owners
}

fn nacked(exchange: &str, routing_key: &str) -> BrokerError {
    BrokerError::new(
        BrokerErrorKind::NotConfirmed,
        format!("the broker nacked a message published to exchange `{exchange}` with routing key `{routing_key}`"),
    )
}

/// Queues an acknowledgement on the channel without waiting for its frame
/// to be written.
///
/// lapin's `basic_ack`/`basic_nack` queue the frame on their first poll and
/// then wait for the I/O thread to write it; AMQP has no reply to an ack, so
/// that wait tells nothing about the broker, and at an ack per message it
/// costs a hand-off between threads per message. The frame is queued in
/// order with everything the channel sends later (a later `channel.close`
/// goes out after it), a channel that is already closed or failed answers
/// at once, and a connection lost before the write makes the broker
/// redeliver the message, as a lost ack always does.
fn queued(ack: impl std::future::Future<Output = lapin::Result<()>>) -> lapin::Result<()> {
    let mut ack = std::pin::pin!(ack);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match ack.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn queue_options_map_to_x_arguments() {
        let args = queue_arguments(
            &QueueOptions::default()
                .with_durable(true)
                .with_exclusive(false)
                .with_max_length(1)
                .with_max_priority(10)
                .with_quorum(true)
                .with_delivery_limit(worker_core::backend::broker::DeliveryLimit::Limited(4))
                .with_single_active(true)
                .with_message_ttl(Duration::from_millis(1500))
                .with_dead_letter_exchange(String::new())
                .with_dead_letter_routing_key("target"),
            None,
        );
        let get = |k: &str| args.inner().get(k).cloned();
        assert_eq!(
            get("x-queue-type"),
            Some(AMQPValue::LongString("quorum".into()))
        );
        assert_eq!(get("x-message-ttl"), Some(AMQPValue::LongLongInt(1500)));
        assert_eq!(get("x-delivery-limit"), Some(AMQPValue::LongLongInt(4)));
        assert_eq!(get("x-max-length"), Some(AMQPValue::LongLongInt(1)));
        assert_eq!(get("x-max-priority"), Some(AMQPValue::LongLongInt(10)));
        assert_eq!(
            get("x-single-active-consumer"),
            Some(AMQPValue::Boolean(true))
        );
        assert_eq!(
            get("x-dead-letter-exchange"),
            Some(AMQPValue::LongString("".into()))
        );
        assert_eq!(
            get("x-dead-letter-routing-key"),
            Some(AMQPValue::LongString("target".into()))
        );
        assert!(queue_arguments(&QueueOptions::default(), None)
            .inner()
            .is_empty());
    }

    #[test]
    fn unlimited_is_minus_one_from_4_0_and_absent_before() {
        let unlimited = QueueOptions::default()
            .with_quorum(true)
            .with_delivery_limit(worker_core::backend::broker::DeliveryLimit::Unlimited);
        let limit = |v: &str| {
            queue_arguments(&unlimited, BrokerVersion::parse(v))
                .inner()
                .get("x-delivery-limit")
                .cloned()
        };
        assert_eq!(limit("4.3.6"), Some(AMQPValue::LongLongInt(-1)));
        assert_eq!(limit("4.0.5"), Some(AMQPValue::LongLongInt(-1)));
        assert_eq!(limit("3.10.8"), None);
    }
}
