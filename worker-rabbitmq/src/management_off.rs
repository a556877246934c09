//! The management API client when the crate is built without its
//! `management` feature: a configured management URL is refused with the
//! feature to enable, and versions of `amqps://` nodes stay unknown.

use worker_core::backend::broker::{Binding, BrokerVersion, Inspected};

/// Never built: [`Management::new`] refuses every URL.
#[derive(Debug, Clone)]
pub(crate) enum Management {}

impl Management {
    /// Refuses: this build has no management client.
    pub(crate) fn new(_url: &str, _vhost: String, _ca_pem: Option<&str>) -> Result<Self, String> {
        Err(NOT_BUILT.to_owned())
    }

    pub(crate) async fn inspect(&self, _queue: &str) -> Result<Option<Inspected>, String> {
        match *self {}
    }

    pub(crate) async fn exchange_type(&self, _exchange: &str) -> Result<Option<String>, String> {
        match *self {}
    }

    pub(crate) async fn bindings(&self, _queue: &str) -> Result<Vec<Binding>, String> {
        match *self {}
    }

    pub(crate) async fn version(&self) -> Option<BrokerVersion> {
        match *self {}
    }
}

const NOT_BUILT: &str = "WORKER_AMQP_MANAGEMENT_URL is set, but this program was built without the management API client: enable the `management` feature of worker-framework (worker-framework = { version = \"0.1\", features = [\"management\"] })";
