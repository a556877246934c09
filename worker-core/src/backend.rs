//! The API the framework's own crates build on: the backends
//! (`worker-framework-rabbitmq`, `worker-framework-http`) and the facade
//! (`worker-framework`), which curates what users see.
//!
//! Everything a backend needs is named here, and only here: a backend
//! implements [`broker::Broker`] (with [`broker::Channel`] and
//! [`broker::Deliveries`]) and a [`runtime::Connector`], or a
//! [`runtime::Service`]; it reads its variables from [`config::Config`]
//! and reports problems as [`config::ConfigError`] or
//! [`error::BrokerError`]. The framework's crates are released together,
//! with exact version requirements between them, so this API may change in
//! any release; an application depends on `worker-framework` alone.

/// The broker traits and the messages that cross them.
pub mod broker {
    pub use crate::broker::{
        headers_match, topic_matches, AmqpValue, Binding, Broker, BrokerVersion, Bytes, Channel,
        ConsumeOptions, Deliveries, Delivery, DeliveryLimit, ExchangeKind, Headers, Inspected,
        Outgoing, Properties, PublishError, QueueArgument, QueueOptions, Record, AMQP_FRAME_MAX,
        MAX_HEADER_DEPTH,
    };
    /// The behaviours every broker shows, each an async fn over a broker
    /// (feature `conformance`); `conformance_behaviours!` lists them.
    #[cfg(feature = "conformance")]
    pub mod conformance {
        pub use crate::conformance::*;
    }
}

/// Reconnection backoff.
pub mod backoff {
    pub use crate::backoff::{Backoff, RECONNECT_BASE, RECONNECT_CAP};
}

/// The application handle's extractor traits, as handler adapters call them.
pub mod app {
    pub use crate::app::extract::{FromApp, IntoHandlerResult};
    #[cfg(feature = "http")]
    pub use crate::app::json_error;
    #[cfg(feature = "http")]
    pub use crate::app::MissingState;
    pub use crate::app::PublishSink;
}

/// Batching and bisection, shared with the SSE consumers.
pub mod batch {
    pub use crate::batch::{Batcher, Broadcast, ConsumerSpec, FlushReason};
    /// Bisection of a failed batch.
    pub mod bisect {
        pub use crate::batch::bisect::{resolve, Run, Verdicts};
    }
}

/// One handler call: timing, the error or panic as a log line.
pub mod call {
    pub use crate::call::{log_isolated, panic_message, run_logged, Logged};
}

/// The generated binary's command line.
pub mod cli {
    pub use crate::cli::{
        asyncapi, binary_name, check, check_drift, definitions, main, route_table, Program,
        THREAD_STACK,
    };
}

/// Configuration from the environment.
pub mod config {
    pub use crate::config::{Config, ConfigError, MainOptions, Variable, TLS_CA_FILE, VARIABLES};
    /// Value parsers, so that a backend's variables fail as the runtime's do.
    pub mod parse {
        pub use crate::config::parse::{bounded, invalid, read_pem, seconds_or_off};
    }
}

/// Errors.
pub mod error {
    pub use crate::error::{BrokerError, BrokerErrorKind, Error};
}

/// Boxed futures.
pub mod future {
    pub use crate::future::BoxFuture;
}

/// The tracing subscriber of the generated binary.
pub mod logging {
    pub use crate::logging::init;
}

/// The embedded broker.
pub mod memory {
    pub use crate::memory::{MemoryBroker, QueueStats, StoredMessage};
    pub use crate::runtime::MemoryConnector;
}

/// Counters and histograms read by `/metrics` and the tests.
pub mod metrics {
    pub use crate::metrics::{
        DelayHistogram, DurationHistogram, HistogramSnapshot, OutcomeCounts, RouteStats,
        SkipReason, StatsRegistry, StreamError,
    };
}

/// OpenTelemetry spans of the HTTP server and the SSE consumers.
pub mod otel {
    pub use crate::otel::{
        current_headers, record_status, server_span, shutdown, sse_batch_span, BUILT, VARIABLES,
    };
    #[cfg(feature = "otel")]
    pub use crate::otel::{layer, Tracer};
}

/// The route records the macros register.
pub mod registry {
    pub use crate::registry::{
        hooks, routes, AmqpOptions, BrokerUse, Location, Route, RouteKind, ServiceRoute,
    };
}

/// The runtime: connections, services and the builder.
pub mod runtime {
    pub use crate::runtime::{
        Backends, BrokerConnection, Connection, ConnectionKey, Connector, Coordination, Probe,
        Runtime, RuntimeBuilder, Service, ServiceContext,
    };
}

/// Recurring tasks.
pub mod schedule {
    pub use crate::schedule::state_queue;
}

/// Settlement of deliveries.
pub mod settlement {
    pub use crate::settlement::{Action, Outcome};
}
