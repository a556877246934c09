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

    fn connect(&self, _name: &str, url: &str) -> Result<Arc<dyn Connection>, Error> {
        Ok(Arc::new(BrokerConnection::new(MemoryBroker::shared(url))))
    }
}
