//! [`MemoryConnector`]: the runtime's entry point for `memory://` URLs.

use std::sync::Arc;

use worker_rules::bounds::Bound;

use super::{BrokerConnection, Connection, Connector};
use crate::config::parse::bounded;
use crate::config::MEMORY_MAX_LENGTH;
use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::memory::MemoryBroker;

/// The connector of the embedded broker: `memory://` URLs, one broker per URL
/// in the process.
#[derive(Debug)]
pub struct MemoryConnector;

impl Connector for MemoryConnector {
    fn schemes(&self) -> &'static [&'static str] {
        &["memory"]
    }

    fn connect(&self, _name: &str, url: &str) -> Result<Arc<dyn Connection>, Error> {
        Ok(Arc::new(BrokerConnection::new(MemoryBroker::shared(url))))
    }

    /// As [`connect`](Self::connect), with the bound of
    /// `WORKER_MEMORY_MAX_LENGTH` applied to the broker's queues.
    fn connect_configured(
        &self,
        name: &str,
        url: &str,
        config: &Config,
    ) -> Result<Arc<dyn Connection>, Error> {
        let max_length = max_length(config)?;
        let broker = MemoryBroker::shared(url);
        broker.set_max_length(max_length);
        let _ = name;
        Ok(Arc::new(BrokerConnection::new(broker)))
    }
}

const MAX_LENGTH: Bound = Bound {
    option: MEMORY_MAX_LENGTH.name,
    min: 1,
    max: u32::MAX as i128,
};

/// `WORKER_MEMORY_MAX_LENGTH`, if set.
pub(crate) fn max_length(config: &Config) -> Result<Option<u64>, ConfigError> {
    config
        .var(MEMORY_MAX_LENGTH.name)
        .map(|v| bounded(MEMORY_MAX_LENGTH.name, v, &MAX_LENGTH))
        .transpose()
}
