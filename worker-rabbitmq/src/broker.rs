//! [`RabbitBroker`]: one lazily established, shared AMQP connection to one
//! node of a list.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::ConfirmSelectOptions;
use lapin::{Connection, ConnectionProperties, ConnectionStatus};
use worker_core::backend::broker::{Broker, BrokerVersion};
use worker_core::backend::error::{BrokerError, BrokerErrorKind};

use crate::channel::RabbitChannel;
use crate::nodes;
use crate::options::RabbitOptions;
use crate::uri::{self, Endpoint};

/// How long a connection attempt may take when the URL has no
/// `connection_timeout` (milliseconds) query parameter.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A RabbitMQ broker: one AMQP connection, established on the first
/// [`channel`](Broker::channel) call and shared by every channel.
///
/// The URL may list the nodes of one cluster, comma-separated. Each
/// connection attempt tries them in a fresh random order (so that workers
/// spread over the nodes), the node of the connection just lost last, and
/// uses the first that answers; the error of a failed attempt names every
/// node's failure. With several nodes, the connection's name in the
/// management UI ends with the node's `host:port`.
///
/// Cloning is cheap and shares the connection. A lost connection is not
/// re-established in the background: the next `channel()` call connects
/// again (the runtime calls it with backoff), and a failed attempt is
/// returned, not retried.
#[derive(Clone)]
pub struct RabbitBroker {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Vec<Endpoint>,
    /// Every node, passwords masked.
    masked: String,
    connection_name: String,
    /// The node of the latest connection (an index into `endpoints`).
    current: Mutex<Option<usize>>,
    /// Serialises connection attempts: concurrent `channel()` calls connect once.
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// Status of the latest connection, readable without awaiting.
    status: Mutex<Option<ConnectionStatus>>,
    /// The management API, when configured.
    management: Option<crate::management::Management>,
    /// The version of the broker of the latest connection, when known.
    version: Mutex<Option<BrokerVersion>>,
    /// TLS of `amqps://` nodes, as lapin takes it.
    tls: lapin::tcp::OwnedTLSConfig,
}

impl std::fmt::Debug for RabbitBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitBroker")
            .field("url", &self.inner.masked)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl RabbitBroker {
    /// Validates `url` (`amqp://` or `amqps://`, or a comma-separated list
    /// of them) and applies `options`; does not connect yet.
    pub fn new(url: &str, options: RabbitOptions) -> Result<Self, BrokerError> {
        let endpoints = uri::parse_nodes(url, &options)?;
        let management = match &options.management_url {
            Some(m) => {
                let vhost = options
                    .vhost
                    .clone()
                    .unwrap_or_else(|| worker_core::rules::url::vhost_of(url));
                Some(
                    crate::management::Management::new(m, vhost, options.tls.ca_pem.as_deref())
                        .map_err(|e| BrokerError::new(BrokerErrorKind::Refused, e))?,
                )
            }
            None => None,
        };
        let masked = endpoints
            .iter()
            .map(|e| e.masked.as_str())
            .collect::<Vec<_>>()
            .join(",");
        Ok(RabbitBroker {
            inner: Arc::new(Inner {
                endpoints,
                masked,
                connection_name: options.connection_name,
                current: Mutex::new(None),
                connection: tokio::sync::Mutex::new(None),
                status: Mutex::new(None),
                management,
                version: Mutex::new(None),
                tls: options.tls.lapin(),
            }),
        })
    }

    /// The connection, established now if absent or no longer connected.
    async fn connection(&self) -> Result<Arc<Connection>, BrokerError> {
        let mut slot = self.inner.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            if connection.status().connected() {
                return Ok(connection.clone());
            }
        }
        let last = *lock(&self.inner.current);
        let mut failures = Vec::new();
        for node in nodes::attempt_order(self.inner.endpoints.len(), last) {
            match self.connect_to(node).await {
                Ok(connection) => {
                    let connection = Arc::new(connection);
                    *lock(&self.inner.version) = self.read_version(node).await;
                    *lock(&self.inner.current) = Some(node);
                    *self.status_slot() = Some(connection.status().clone());
                    *slot = Some(connection.clone());
                    return Ok(connection);
                }
                Err(e) => failures.push(e.message().to_owned()),
            }
        }
        Err(BrokerError::connection(match failures.as_slice() {
            [one] => one.clone(),
            many => format!(
                "cannot connect to any of the {} nodes: {}",
                many.len(),
                many.join("; ")
            ),
        }))
    }

    /// The version of node `node` (see `version.rs`).
    async fn read_version(&self, node: usize) -> Option<BrokerVersion> {
        let uri = &self.inner.endpoints[node].uri;
        let version = match uri.scheme {
            lapin::uri::AMQPScheme::AMQP => {
                crate::version::probe(&uri.authority.host, uri.authority.port).await
            }
            lapin::uri::AMQPScheme::AMQPS => match &self.inner.management {
                Some(api) => api.version().await,
                None => None,
            },
        };
        tracing::debug!(url = %self.inner.endpoints[node].masked, version = ?version.map(|v| v.to_string()), "broker version");
        version
    }

    /// One connection attempt to node `node`.
    async fn connect_to(&self, node: usize) -> Result<Connection, BrokerError> {
        let endpoint = &self.inner.endpoints[node];
        let masked = &endpoint.masked;
        let mut properties = ConnectionProperties::default();
        if !self.inner.connection_name.is_empty() {
            let authority = &endpoint.uri.authority;
            let name = if self.inner.endpoints.len() > 1 {
                // Which node of the list this connection went to.
                format!(
                    "{} {}:{}",
                    self.inner.connection_name, authority.host, authority.port
                )
            } else {
                self.inner.connection_name.clone()
            };
            properties = properties.with_connection_name(name.as_str().into());
        }
        let timeout = endpoint
            .uri
            .query
            .connection_timeout
            .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_millis);
        let runtime = lapin::runtime::default_runtime()
            .map_err(|e| BrokerError::connection(format!("cannot connect to `{masked}`: {e}")))?;
        let attempt = Connection::connect_uri_with_config(
            endpoint.uri.clone(),
            properties,
            self.inner.tls.clone(),
            runtime,
        );
        let connection = tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| {
                BrokerError::connection(format!(
                    "cannot connect to `{masked}`: timed out after {timeout:?}"
                ))
            })?
            .map_err(|e| BrokerError::connection(format!("cannot connect to `{masked}`: {e}")))?;
        tracing::debug!(url = %masked, "connected to RabbitMQ");
        Ok(connection)
    }

    /// Tries every node on a connection of its own (closed at once): what
    /// `check` reports for a URL that lists several nodes.
    pub async fn probe_nodes(&self) -> Vec<(String, Result<(), BrokerError>)> {
        let mut found = Vec::new();
        for (node, endpoint) in self.inner.endpoints.iter().enumerate() {
            let result = match self.connect_to(node).await {
                Ok(connection) => {
                    let _ = connection.close(200, "bye".into()).await;
                    Ok(())
                }
                Err(e) => Err(e),
            };
            found.push((endpoint.masked.clone(), result));
        }
        found
    }

    /// The masked URL of the node in use, or of every node before the
    /// first connection.
    fn current_node(&self) -> String {
        match *lock(&self.inner.current) {
            Some(node) => self.inner.endpoints[node].masked.clone(),
            None => self.inner.masked.clone(),
        }
    }

    fn status_slot(&self) -> std::sync::MutexGuard<'_, Option<ConnectionStatus>> {
        lock(&self.inner.status)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `Unsupported` without the management API: `what` the protocol cannot
/// tell, and the variable that configures the API.
fn no_management(what: &str) -> BrokerError {
    BrokerError::new(BrokerErrorKind::Unsupported, format!("{what}: set WORKER_AMQP_MANAGEMENT_URL (for a named connection WORKER_AMQP_<NAME>_MANAGEMENT_URL) to the management plugin's URL, e.g. http://user:password@host:15672"))
}

impl Broker for RabbitBroker {
    type Channel = RabbitChannel;

    async fn inspect_queue(
        &self,
        queue: &str,
    ) -> Result<Option<worker_core::backend::broker::Inspected>, BrokerError> {
        match &self.inner.management {
            Some(api) => api
                .inspect(queue)
                .await
                .map_err(|e| BrokerError::new(BrokerErrorKind::Connection, e)),
            None => Err(no_management(
                "a passive declare does not return a queue's arguments",
            )),
        }
    }

    async fn inspect_exchange(&self, exchange: &str) -> Result<Option<String>, BrokerError> {
        match &self.inner.management {
            Some(api) => api
                .exchange_type(exchange)
                .await
                .map_err(|e| BrokerError::new(BrokerErrorKind::Connection, e)),
            None => Err(no_management(
                "a passive declare does not return an exchange's type",
            )),
        }
    }

    async fn inspect_bindings(
        &self,
        queue: &str,
    ) -> Result<Vec<worker_core::backend::broker::Binding>, BrokerError> {
        match &self.inner.management {
            Some(api) => api
                .bindings(queue)
                .await
                .map_err(|e| BrokerError::new(BrokerErrorKind::Connection, e)),
            None => Err(no_management("AMQP cannot list a queue's bindings")),
        }
    }

    async fn channel(&self) -> Result<RabbitChannel, BrokerError> {
        let connection = self.connection().await?;
        let masked = &self.current_node();
        let channel = connection.create_channel().await.map_err(|e| {
            BrokerError::connection(format!("cannot open a channel on `{masked}`: {e}"))
        })?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| {
                BrokerError::connection(format!(
                    "cannot enable publisher confirms on `{masked}`: {e}"
                ))
            })?;
        Ok(RabbitChannel::new(channel, connection, self.version()))
    }

    fn describe(&self) -> String {
        self.current_node()
    }

    async fn probe_nodes(&self) -> Vec<(String, Result<(), BrokerError>)> {
        if self.inner.endpoints.len() < 2 {
            return Vec::new();
        }
        RabbitBroker::probe_nodes(self).await
    }

    fn version(&self) -> Option<BrokerVersion> {
        *lock(&self.inner.version)
    }

    fn is_connected(&self) -> bool {
        self.status_slot()
            .as_ref()
            .is_some_and(ConnectionStatus::connected)
    }

    async fn close(&self) {
        let connection = self.inner.connection.lock().await.take();
        if let Some(connection) = connection {
            if connection.status().connected() {
                if let Err(e) = connection.close(200, "bye".into()).await {
                    tracing::debug!(url = %self.current_node(), error = %e, "closing connection");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_validates_without_connecting() {
        let broker = RabbitBroker::new(
            "amqp://guest:secret@127.0.0.1:1/%2f",
            RabbitOptions::named("t"),
        )
        .unwrap();
        assert_eq!(broker.describe(), "amqp://guest:****@127.0.0.1:1/%2f");
        assert!(!broker.is_connected());
        assert!(RabbitBroker::new("memory://", RabbitOptions::default()).is_err());
    }

    #[test]
    fn connect_timeout_comes_from_the_url() {
        let broker = RabbitBroker::new(
            "amqp://localhost/%2f?connection_timeout=1500",
            RabbitOptions::default(),
        )
        .unwrap();
        let query = &broker.inner.endpoints[0].uri.query;
        assert_eq!(query.connection_timeout, Some(1500));
    }

    #[tokio::test]
    async fn failed_connect_is_a_connection_error_with_masked_url() {
        // Port 1 on loopback: connection refused, immediately.
        let broker = RabbitBroker::new(
            "amqp://guest:secret@127.0.0.1:1/%2f",
            RabbitOptions::default(),
        )
        .unwrap();
        let e = broker.channel().await.unwrap_err();
        assert_eq!(
            e.kind(),
            worker_core::backend::error::BrokerErrorKind::Connection
        );
        assert!(e.message().contains("guest:****@127.0.0.1:1"), "{e}");
        assert!(!e.message().contains("secret"), "{e}");
        assert!(!broker.is_connected());
    }
}
