//! [`RabbitBroker`]: one lazily established, shared AMQP connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::ConfirmSelectOptions;
use lapin::{Connection, ConnectionProperties, ConnectionStatus};
use worker_core::broker::Broker;
use worker_core::error::BrokerError;

use crate::channel::RabbitChannel;
use crate::options::RabbitOptions;
use crate::uri::{self, Endpoint};

/// How long a connection attempt may take when the URL has no
/// `connection_timeout` (milliseconds) query parameter.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A RabbitMQ broker: one AMQP connection, established on the first
/// [`channel`](Broker::channel) call and shared by every channel.
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
    endpoint: Endpoint,
    properties: ConnectionProperties,
    connect_timeout: Duration,
    /// Serialises connection attempts: concurrent `channel()` calls connect once.
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// Status of the latest connection, readable without awaiting.
    status: Mutex<Option<ConnectionStatus>>,
}

impl std::fmt::Debug for RabbitBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitBroker")
            .field("url", &self.inner.endpoint.masked)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl RabbitBroker {
    /// Validates `url` (`amqp://` or `amqps://`) and applies `options`;
    /// does not connect yet.
    pub fn new(url: &str, options: RabbitOptions) -> Result<Self, BrokerError> {
        let endpoint = uri::parse(url, &options)?;
        let mut properties = ConnectionProperties::default();
        if !options.connection_name.is_empty() {
            properties = properties.with_connection_name(options.connection_name.as_str().into());
        }
        let connect_timeout = endpoint
            .uri
            .query
            .connection_timeout
            .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_millis);
        Ok(RabbitBroker {
            inner: Arc::new(Inner {
                endpoint,
                properties,
                connect_timeout,
                connection: tokio::sync::Mutex::new(None),
                status: Mutex::new(None),
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
        let masked = &self.inner.endpoint.masked;
        let attempt = Connection::connect_uri(
            self.inner.endpoint.uri.clone(),
            self.inner.properties.clone(),
        );
        let connection = tokio::time::timeout(self.inner.connect_timeout, attempt)
            .await
            .map_err(|_| {
                BrokerError::connection(format!(
                    "cannot connect to `{masked}`: timed out after {:?}",
                    self.inner.connect_timeout
                ))
            })?
            .map_err(|e| BrokerError::connection(format!("cannot connect to `{masked}`: {e}")))?;
        tracing::debug!(url = %masked, "connected to RabbitMQ");
        let connection = Arc::new(connection);
        *self.status_slot() = Some(connection.status().clone());
        *slot = Some(connection.clone());
        Ok(connection)
    }

    fn status_slot(&self) -> std::sync::MutexGuard<'_, Option<ConnectionStatus>> {
        self.inner
            .status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Broker for RabbitBroker {
    type Channel = RabbitChannel;

    async fn channel(&self) -> Result<RabbitChannel, BrokerError> {
        let connection = self.connection().await?;
        let masked = &self.inner.endpoint.masked;
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
        Ok(RabbitChannel::new(channel, connection))
    }

    fn describe(&self) -> String {
        self.inner.endpoint.masked.clone()
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
                    tracing::debug!(url = %self.inner.endpoint.masked, error = %e, "closing connection");
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
        assert_eq!(broker.inner.connect_timeout, Duration::from_millis(1500));
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
        assert_eq!(e.kind, worker_core::error::BrokerErrorKind::Connection);
        assert!(e.message.contains("guest:****@127.0.0.1:1"), "{e}");
        assert!(!e.message.contains("secret"), "{e}");
        assert!(!broker.is_connected());
    }
}
