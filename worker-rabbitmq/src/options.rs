//! Connection options of a [`RabbitBroker`](crate::RabbitBroker).

/// How a [`RabbitBroker`](crate::RabbitBroker) connects, besides its URL.
/// Its `Debug` masks the management URL's password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RabbitOptions {
    /// Sent as the `connection_name` client property: the name RabbitMQ's
    /// management UI and `rabbitmqctl list_connections` show. Empty: not sent.
    pub connection_name: String,
    /// Heartbeat interval in seconds proposed to the server (overrides a
    /// `heartbeat` query parameter of the URL; `Some(0)` disables heartbeats).
    /// `None`: the URL's value, else the server's (60 s by default).
    pub heartbeat: Option<u16>,
    /// Virtual host to use instead of the one in the URL's path.
    pub vhost: Option<String>,
    /// The management API (`http://user:password@host:15672`), through
    /// which `check --drift` reads queue arguments.
    pub management_url: Option<String>,
    /// Trusted CAs and the client certificate of `amqps://` connections
    /// (`WORKER_AMQP_[<NAME>_]TLS_*`, `WORKER_TLS_CA_FILE`).
    pub tls: crate::Tls,
}

impl std::fmt::Debug for RabbitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitOptions")
            .field("connection_name", &self.connection_name)
            .field("heartbeat", &self.heartbeat)
            .field("vhost", &self.vhost)
            .field(
                "management_url",
                &self
                    .management_url
                    .as_deref()
                    .map(worker_core::rules::url::mask_url),
            )
            .field("tls", &self.tls)
            .finish()
    }
}

impl RabbitOptions {
    /// Options with a connection name and everything else default.
    pub fn named(connection_name: impl Into<String>) -> Self {
        RabbitOptions {
            connection_name: connection_name.into(),
            ..RabbitOptions::default()
        }
    }
}
