//! RabbitMQ backend of the `worker` framework, on [lapin].
//!
//! [`RabbitBroker`] implements [`worker_core::backend::broker::Broker`]: one lazily
//! established AMQP connection per broker value, shared by all of its
//! channels; every channel has publisher confirms enabled. The runtime owns
//! reconnection: when the connection is lost, consumers' streams yield an
//! error, and the next [`Broker::channel`](worker_core::backend::broker::Broker::channel)
//! call connects again.
//!
//! ```no_run
//! use worker_core::backend::broker::{Broker, Channel};
//! use worker_rabbitmq::{RabbitBroker, RabbitOptions};
//!
//! # async fn demo() -> Result<(), worker_core::backend::error::BrokerError> {
//! let broker = RabbitBroker::new(
//!     "amqp://guest:guest@localhost:5672/%2f",
//!     RabbitOptions::named("my-worker"),
//! )?;
//! let channel = broker.channel().await?;
//! channel.qos(128).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod broker;
mod channel;
mod connector;
mod deliveries;
mod error;
mod exchanges;
mod headers;
#[cfg_attr(not(feature = "management"), path = "management_off.rs")]
mod management;
mod nodes;
mod options;
mod properties;
mod tls;
mod uri;
mod version;

pub use broker::RabbitBroker;
pub use channel::RabbitChannel;
pub use connector::RabbitConnector;
pub use deliveries::RabbitDeliveries;
pub use options::RabbitOptions;
pub use tls::Tls;

/// Entry points of the fuzz targets (`fuzz/`); not a public API.
#[doc(hidden)]
pub mod __fuzz {
    use lapin::types::parsing::parse_field_table;
    use lapin::BasicProperties;
    use worker_core::backend::broker::MAX_HEADER_DEPTH;

    /// Parses `bytes` as an AMQP field table, as lapin does with a
    /// message's headers, and converts it as a delivery's headers are: the
    /// depth check first, then the conversion to runtime headers and back.
    /// Returns whether the table parsed; panics on a broken invariant.
    pub fn headers(bytes: &[u8]) -> bool {
        let Ok((_, table)) = parse_field_table(bytes) else {
            return false;
        };
        let too_deep = crate::headers::nests_deeper_than(&table, MAX_HEADER_DEPTH);
        let (properties, defect) =
            crate::properties::from_basic(&BasicProperties::default().with_headers(table));
        assert_eq!(defect.is_some(), too_deep);
        if too_deep {
            assert!(properties.headers.is_empty());
        } else {
            // What was read can be published again.
            let back = crate::headers::to_field_table(&properties.headers)
                .expect("names read from AMQP fit AMQP");
            assert_eq!(back.inner().len(), properties.headers.len());
        }
        true
    }

    /// Parses `url` as `WORKER_AMQP_URL` is parsed (one node or a list),
    /// checking that no error shows more than the masked URL does.
    pub fn amqp_url(url: &str) {
        let options = crate::RabbitOptions::default();
        let Err(e) = crate::uri::parse_nodes(url, &options) else {
            return;
        };
        let Some(password) = password_of(url).filter(|p| p.len() >= 4) else {
            return;
        };
        // The same URL with a neutral password: what the error says of
        // it is the message's own text, which may hold the password's
        // characters by chance (`memory:/` in "or `memory://`").
        let neutral = url.replace(password, &"z".repeat(password.len()));
        let own_text = crate::uri::parse_nodes(&neutral, &options)
            .err()
            .map_or(String::new(), |e| e.message().to_owned());
        let masked = worker_core::rules::url::mask_url(url);
        if !masked.contains(password) && !own_text.contains(password) {
            assert!(
                !e.message().contains(password),
                "{e} leaks the password of {url:?}"
            );
        }
    }

    /// The password of a one-node URL `scheme://user:password@host...`, by
    /// the rule `mask_url` follows (the last `@` ends the user info).
    fn password_of(url: &str) -> Option<&str> {
        let rest = url.split_once("://")?.1;
        let userinfo = rest.rsplit_once('@')?.0;
        Some(userinfo.split_once(':')?.1)
    }
}
