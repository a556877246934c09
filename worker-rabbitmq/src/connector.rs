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
        connect(name, url, None, Tls::default(), None)
    }

    fn connect_configured(
        &self,
        name: &str,
        url: &str,
        config: &worker_core::backend::config::Config,
    ) -> Result<Arc<dyn Connection>, Error> {
        let tls = Tls::from_config(config, name).map_err(|e| Error::msg(e.to_string()))?;
        // WORKER_AMQP_HEARTBEAT, unless the URL names its own.
        let heartbeat = (!names_heartbeat(url)).then_some(config.amqp_heartbeat.unwrap_or(0));
        connect(name, url, config.management_url(Some(name)), tls, heartbeat)
    }
}

/// Whether a node of `url` has a `heartbeat` query parameter.
fn names_heartbeat(url: &str) -> bool {
    url.split(',').any(|node| {
        node.split_once('?')
            .is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("heartbeat=")))
    })
}

fn connect(
    name: &str,
    url: &str,
    management: Option<&str>,
    tls: Tls,
    heartbeat: Option<u16>,
) -> Result<Arc<dyn Connection>, Error> {
    let program = worker_core::backend::cli::binary_name().unwrap_or_else(|| "worker".to_owned());
    let options = RabbitOptions {
        management_url: management.map(str::to_owned),
        tls,
        heartbeat,
        ..RabbitOptions::named(format!("worker:{program}:{name}"))
    };
    let broker = RabbitBroker::new(url, options)?;
    Ok(Arc::new(BrokerConnection::new(broker)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_in_the_url_is_found_on_any_node() {
        assert!(!names_heartbeat("amqp://u:p@h/%2f"));
        assert!(!names_heartbeat("amqp://u:p@h/%2f?frame_max=4096"));
        assert!(names_heartbeat("amqp://u:p@h/%2f?heartbeat=30"));
        assert!(names_heartbeat(
            "amqp://a/%2f, amqp://b/%2f?channel_max=9&heartbeat=0"
        ));
    }
}
