//! [`MemoryConnector`]: the runtime's entry point for `memory://` URLs.

use std::sync::Arc;

use super::MemoryBroker;
use crate::error::Error;
use crate::runtime::{BrokerConnection, Connection, Connector};

/// The connector of the embedded broker: `memory://` URLs, one broker per URL
/// in the process.
pub struct MemoryConnector;

impl Connector for MemoryConnector {
    fn schemes(&self) -> &'static [&'static str] {
        &["memory"]
    }

    fn connect(&self, name: &str, url: &str) -> Result<Arc<dyn Connection>, Error> {
        tracing::info!(
            connection = name,
            url,
            "embedded broker: messages live only in this process and are lost when it exits; set WORKER_AMQP_URL (or WORKER_AMQP_<NAME>_URL) to an amqp:// URL for RabbitMQ"
        );
        Ok(Arc::new(BrokerConnection::new(MemoryBroker::shared(url))))
    }
}
