//! Type erasure at the runtime's boundary: a configured connection, whatever
//! its broker, can start consumers and publish. The generic consumer code
//! stays monomorphised per broker.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::app::{App, PublishSink};
use crate::broker::{Broker, Channel, QueueOptions};
use crate::consumer::{Consumer, ConsumerSettings};
use crate::error::{BrokerError, BrokerErrorKind, Error};
use crate::message::Properties;
use crate::registry::{AmqpOptions, BatchHandlerFn, BoxFuture};
use crate::stats::RouteStats;
use tokio_util::sync::CancellationToken;

/// Everything a consumer needs, independent of the broker.
pub struct ConsumerSpec {
    /// Route name.
    pub name: &'static str,
    /// Route options.
    pub options: AmqpOptions,
    /// Generated adapter.
    pub handler: BatchHandlerFn,
    /// Resolved settings.
    pub settings: ConsumerSettings,
    /// The application.
    pub app: App,
    /// The route's counters.
    pub stats: Arc<RouteStats>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

/// A configured broker connection.
pub trait Connection: Send + Sync + 'static {
    /// Address with the password masked.
    fn describe(&self) -> String;
    /// Starts the consumer of a route.
    fn spawn_consumer(&self, spec: ConsumerSpec) -> JoinHandle<()>;
    /// The publisher of this connection.
    fn publisher(&self) -> Arc<dyn PublishSink>;
    /// Checks that the connection works and the queues exist.
    fn check_queues<'a>(&'a self, queues: &'a [&'a str]) -> BoxFuture<'a, Result<(), BrokerError>>;
    /// Whether the connection is up.
    fn is_connected(&self) -> bool;
    /// Closes the connection.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// Makes connections for URL schemes (`memory://`, `amqp://`, `amqps://`).
pub trait Connector: Send + Sync + 'static {
    /// Schemes handled, without `://`.
    fn schemes(&self) -> &'static [&'static str];
    /// Creates a (lazily connecting) connection; `name` is the configured
    /// connection name, for the broker's management UI.
    fn connect(&self, name: &str, url: &str) -> Result<Arc<dyn Connection>, Error>;
}

/// [`Connection`] over any [`Broker`].
pub struct BrokerConnection<B: Broker> {
    broker: Arc<B>,
    publisher: Arc<ChannelPublisher<B>>,
}

impl<B: Broker> BrokerConnection<B> {
    /// Wraps a broker.
    pub fn new(broker: B) -> Self {
        let broker = Arc::new(broker);
        BrokerConnection {
            publisher: Arc::new(ChannelPublisher {
                broker: broker.clone(),
                channel: tokio::sync::Mutex::new(None),
            }),
            broker,
        }
    }
}

impl<B: Broker> Connection for BrokerConnection<B> {
    fn describe(&self) -> String {
        self.broker.describe()
    }

    fn spawn_consumer(&self, spec: ConsumerSpec) -> JoinHandle<()> {
        let consumer = Consumer::new(
            spec.name,
            spec.options,
            spec.handler,
            spec.settings,
            self.broker.clone(),
            spec.app,
            spec.stats,
            spec.shutdown,
        );
        tokio::spawn(consumer.run())
    }

    fn publisher(&self) -> Arc<dyn PublishSink> {
        self.publisher.clone()
    }

    fn check_queues<'a>(&'a self, queues: &'a [&'a str]) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            let ch = self.broker.channel().await?;
            let mut result = Ok(());
            for q in queues {
                if let Err(e) = ch.check_queue(q).await {
                    result = Err(e);
                    break;
                }
            }
            ch.close().await;
            result
        })
    }

    fn is_connected(&self) -> bool {
        self.broker.is_connected()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(ch) = self.publisher.channel.lock().await.take() {
                ch.close().await;
            }
            self.broker.close().await;
        })
    }
}

/// Publishes on a lazily opened channel, reopened after a failure.
struct ChannelPublisher<B: Broker> {
    broker: Arc<B>,
    channel: tokio::sync::Mutex<Option<Arc<B::Channel>>>,
}

impl<B: Broker> ChannelPublisher<B> {
    async fn channel(&self) -> Result<Arc<B::Channel>, BrokerError> {
        let mut slot = self.channel.lock().await;
        if let Some(ch) = &*slot {
            return Ok(ch.clone());
        }
        let ch = Arc::new(self.broker.channel().await?);
        *slot = Some(ch.clone());
        Ok(ch)
    }

    async fn forget(&self, failed: &Arc<B::Channel>) {
        let mut slot = self.channel.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, failed)) {
            *slot = None;
        }
    }
}

impl<B: Broker> PublishSink for ChannelPublisher<B> {
    fn publish<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        body: Vec<u8>,
        properties: Properties,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            let mut attempt = 0;
            loop {
                let ch = self.channel().await?;
                match ch.publish(exchange, routing_key, &body, &properties).await {
                    Ok(()) => return Ok(()),
                    Err(e)
                        if attempt == 0
                            && matches!(
                                e.kind,
                                BrokerErrorKind::Connection | BrokerErrorKind::Closed
                            ) =>
                    {
                        self.forget(&ch).await;
                        attempt += 1;
                    }
                    Err(e) => {
                        // A nack or a returned message leaves the channel open.
                        if !matches!(
                            e.kind,
                            BrokerErrorKind::NotConfirmed | BrokerErrorKind::Unroutable
                        ) {
                            self.forget(&ch).await;
                        }
                        return Err(e);
                    }
                }
            }
        })
    }

    fn declare_queue<'a>(
        &'a self,
        queue: &'a str,
        options: &'a QueueOptions,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            let ch = self.channel().await?;
            let result = ch.declare_queue(queue, options).await;
            if result.is_err() {
                // A refused declare closes an AMQP channel.
                self.forget(&ch).await;
            }
            result
        })
    }
}

/// The connector of the embedded broker: `memory://` URLs, one broker per URL
/// in the process.
pub struct MemoryConnector;

impl Connector for MemoryConnector {
    fn schemes(&self) -> &'static [&'static str] {
        &["memory"]
    }

    fn connect(&self, _name: &str, url: &str) -> Result<Arc<dyn Connection>, Error> {
        Ok(Arc::new(BrokerConnection::new(
            crate::memory::MemoryBroker::shared(url),
        )))
    }
}
