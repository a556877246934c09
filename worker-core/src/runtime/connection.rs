//! Type erasure at the runtime's boundary: a configured connection
//! ([`Connection`]), whatever its broker, can start consumers and publish;
//! a [`Connector`] makes connections for URL schemes. [`BrokerConnection`]
//! is the one implementation, over any [`Broker`]: the generic consumer
//! code stays monomorphised per broker.

use std::fmt;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::coordination::{ExclusiveLock, QueueRecord};
use crate::app::PublishSink;
use crate::batch::{Consumer, ConsumerSpec};
use crate::broker::{
    first_failure, Broker, Channel, Inspected, Outgoing, Properties, PublishError, QueueOptions,
    Record, SlotLock,
};
use crate::error::{BrokerError, BrokerErrorKind, Error};
use crate::future::BoxFuture;
use crate::registry::Route;

/// Which configured connection a route uses: its `connection` name
/// (`default` when unset, lowercased) and its `vhost` override. Shown as
/// `name` or `name/vhost`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionKey {
    /// The connection name (`WORKER_AMQP_<NAME>_URL`, or `default`).
    pub name: String,
    /// The route's vhost, replacing the URL's.
    pub vhost: Option<&'static str>,
}

impl ConnectionKey {
    /// The default connection (`WORKER_AMQP_URL`), with its own vhost.
    pub fn default_connection() -> Self {
        Self::named("default")
    }

    /// The connection `name`, with its own vhost.
    pub fn named(name: &str) -> Self {
        ConnectionKey {
            name: name.to_ascii_lowercase(),
            vhost: None,
        }
    }

    /// The connection of an `amqp` route, of a `cron` route with
    /// `singleton` or `catch_up` (its lock, its last slot), or of an `sse`
    /// route with `dead_letter` or `resume` (its `broker`); `None` for
    /// other routes.
    pub fn of(route: &Route) -> Option<Self> {
        match &route.kind {
            crate::registry::RouteKind::Cron { options, .. } => {
                return (options.singleton || options.catch_up)
                    .then(|| Self::named(options.connection.unwrap_or("default")));
            }
            crate::registry::RouteKind::Service(service) => {
                return service.broker().map(|b| Self::named(b.connection));
            }
            _ => {}
        }
        let o = route.amqp()?;
        Some(ConnectionKey {
            name: o.connection.unwrap_or("default").to_ascii_lowercase(),
            vhost: o.vhost,
        })
    }

    /// Whether this is a connection by name, without a vhost override (one
    /// that publishers are registered for).
    pub fn is_plain(&self) -> bool {
        self.vhost.is_none()
    }
}

impl fmt::Display for ConnectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.vhost {
            Some(v) => write!(f, "{}/{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
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
    /// Each node of an address that lists several, and whether it accepts
    /// a connection ([`Broker::probe_nodes`]).
    fn probe_nodes(&self) -> BoxFuture<'_, Vec<(String, Result<(), BrokerError>)>> {
        Box::pin(async { Vec::new() })
    }
    /// The type and arguments of an existing queue ([`Broker::inspect_queue`]).
    fn inspect_queue<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<Inspected>, BrokerError>>;
    /// The type of an existing exchange ([`Broker::inspect_exchange`]).
    fn inspect_exchange<'a>(
        &'a self,
        exchange: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, BrokerError>> {
        let _ = exchange;
        Box::pin(async {
            Err(BrokerError::new(
                crate::error::BrokerErrorKind::Unsupported,
                "this connection cannot report exchanges",
            ))
        })
    }
    /// The bindings of an existing queue ([`Broker::inspect_bindings`]).
    fn inspect_bindings<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Vec<crate::broker::Binding>, BrokerError>> {
        let _ = queue;
        Box::pin(async {
            Err(BrokerError::new(
                crate::error::BrokerErrorKind::Unsupported,
                "this connection cannot report bindings",
            ))
        })
    }
    /// The version of the broker last reached ([`Broker::version`]).
    fn version(&self) -> Option<crate::broker::BrokerVersion> {
        None
    }
    /// What this connection's broker keeps for the processes of an
    /// application to coordinate ([`Coordination`]); `None` (the default)
    /// for a broker that cannot, on which `singleton` and `catch_up` cron
    /// routes and `resume` SSE routes are refused at startup.
    fn coordination(&self) -> Option<&dyn Coordination> {
        None
    }
}

/// Coordination between the processes of an application through their
/// broker, for the routes that need it: a `singleton` cron route's lock,
/// and the one-value records of `catch_up` cron routes and `resume` SSE
/// routes. A separate trait, so that a backend without it implements
/// [`Connection`] alone.
pub trait Coordination: Send + Sync + 'static {
    /// The lock of a `singleton` cron route: the exclusive queue `queue`,
    /// held by whichever process declared it.
    fn lock(&self, queue: String) -> Arc<dyn SlotLock>;
    /// A value kept on the broker in the one-message queue `queue` (a
    /// `catch_up` cron route's last fired slot, an `sse` route's resume
    /// point).
    fn record(&self, queue: String) -> Arc<dyn Record>;
}

/// Makes connections for URL schemes (`memory://`, `amqp://`, `amqps://`).
pub trait Connector: Send + Sync + 'static {
    /// Schemes handled, without `://`.
    fn schemes(&self) -> &'static [&'static str];
    /// Creates a (lazily connecting) connection; `name` is the configured
    /// connection name, for the broker's management UI.
    fn connect(&self, name: &str, url: &str) -> Result<Arc<dyn Connection>, Error>;

    /// [`connect`](Self::connect) with the configuration at hand, for
    /// connectors that read more of it (RabbitMQ: the management API URL).
    fn connect_configured(
        &self,
        name: &str,
        url: &str,
        config: &crate::config::Config,
    ) -> Result<Arc<dyn Connection>, Error> {
        let _ = config;
        self.connect(name, url)
    }
}

/// [`Connection`] over any [`Broker`].
pub struct BrokerConnection<B: Broker> {
    broker: Arc<B>,
    publisher: Arc<ChannelPublisher<B>>,
}

impl<B: Broker> std::fmt::Debug for BrokerConnection<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConnection")
            .field("broker", &std::any::type_name::<B>())
            .finish_non_exhaustive()
    }
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
        tokio::spawn(Consumer::new(spec, self.broker.clone()).run())
    }

    fn probe_nodes(&self) -> BoxFuture<'_, Vec<(String, Result<(), BrokerError>)>> {
        Box::pin(self.broker.probe_nodes())
    }

    fn inspect_queue<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<Inspected>, BrokerError>> {
        Box::pin(self.broker.inspect_queue(queue))
    }

    fn inspect_exchange<'a>(
        &'a self,
        exchange: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, BrokerError>> {
        Box::pin(self.broker.inspect_exchange(exchange))
    }

    fn inspect_bindings<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Vec<crate::broker::Binding>, BrokerError>> {
        Box::pin(self.broker.inspect_bindings(queue))
    }

    fn version(&self) -> Option<crate::broker::BrokerVersion> {
        self.broker.version()
    }

    fn coordination(&self) -> Option<&dyn Coordination> {
        Some(self)
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

    fn publish_all<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        messages: Vec<(Vec<u8>, Properties)>,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let total = messages.len();
            let outgoing: Vec<Outgoing<'_>> = messages
                .iter()
                .map(|(body, properties)| Outgoing {
                    exchange,
                    routing_key,
                    body,
                    properties,
                })
                .collect();
            let mut start = 0;
            let mut reopened = false;
            loop {
                let ch = self
                    .channel()
                    .await
                    .map_err(|e| PublishError::new(start, total, e))?;
                let results = ch.publish_each(&outgoing[start..]).await;
                let Err(failed) = first_failure(results, start, total) else {
                    return Ok(());
                };
                let kind = failed.kind().cloned();
                let lost = matches!(
                    kind,
                    Some(BrokerErrorKind::Connection | BrokerErrorKind::Closed)
                );
                // A nack or a returned message leaves the channel open.
                if !matches!(
                    kind,
                    Some(BrokerErrorKind::NotConfirmed | BrokerErrorKind::Unroutable)
                ) {
                    self.forget(&ch).await;
                }
                // A channel lost on the way: the rest once more, on a new one.
                if lost && !reopened {
                    reopened = true;
                    start = failed.confirmed();
                    continue;
                }
                return Err(failed);
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

    fn declare_exchange<'a>(
        &'a self,
        exchange: &'a str,
        kind: crate::broker::ExchangeKind,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            let ch = self.channel().await?;
            let result = ch.declare_exchange(exchange, kind).await;
            if result.is_err() {
                self.forget(&ch).await;
            }
            result
        })
    }
}

impl<B: Broker> Coordination for BrokerConnection<B> {
    fn lock(&self, queue: String) -> Arc<dyn SlotLock> {
        Arc::new(ExclusiveLock::new(self.broker.clone(), queue))
    }

    fn record(&self, queue: String) -> Arc<dyn Record> {
        Arc::new(QueueRecord::new(self.broker.clone(), queue))
    }
}
