//! The runtime's entry point for `amqp://` and `amqps://` URLs.

use std::sync::Arc;

use worker_core::backend::runtime::{BrokerConnection, Connection, Connector};
use worker_core::Error;

use crate::{RabbitBroker, RabbitOptions, Tls};

/// Creates [`RabbitBroker`] connections for the runtime. The connection
/// name shown in RabbitMQ's management UI is `worker:<program>:<name>`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RabbitConnector;

impl Connector for RabbitConnector {
    fn schemes(&self) -> &'static [&'static str] {
        &["amqp", "amqps"]
    }

    fn connect(&self, name: &str, url: &str) -> Result<Arc<dyn Connection>, Error> {
        connect(name, url, None, Tls::default())
    }

    fn connect_configured(
        &self,
        name: &str,
        url: &str,
        config: &worker_core::backend::config::Config,
    ) -> Result<Arc<dyn Connection>, Error> {
        let tls = Tls::from_config(config, name).map_err(|e| Error::msg(e.to_string()))?;
        connect(name, url, config.management_url(Some(name)), tls)
    }
}

fn connect(
    name: &str,
    url: &str,
    management: Option<&str>,
    tls: Tls,
) -> Result<Arc<dyn Connection>, Error> {
    let program = worker_core::backend::cli::binary_name().unwrap_or_else(|| "worker".to_owned());
    let options = RabbitOptions {
        management_url: management.map(str::to_owned),
        tls,
        ..RabbitOptions::named(format!("worker:{program}:{name}"))
    };
    let broker = RabbitBroker::new(url, options)?;
    Ok(Arc::new(BrokerConnection::new(broker)))
}
