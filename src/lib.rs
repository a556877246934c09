//! # worker
//!
//! Write asynchronous workers as decorated `async fn`s, in the style of
//! Python's asyncworker: batched RabbitMQ consumers with ack/reject/requeue
//! policies and per-message overrides, recurring tasks, startup and shutdown
//! hooks, shared typed state, and an embedded broker for zero-setup runs and
//! tests.
//!
//! ```no_run
//! use worker::{route, Message};
//!
//! #[derive(serde::Deserialize, Debug)]
//! struct Item { id: u64 }
//!
//! #[route(amqp, queues = ["items"], bulk_size = 100, bulk_flush_interval = "1s", on_exception = reject)]
//! async fn check(msgs: Vec<Message<Item>>) -> Result<(), worker::Error> {
//!     for m in &msgs {
//!         if m.body().id == 0 { m.requeue(); } // per-message override
//!     }
//!     Ok(())
//! }
//!
//! worker::main!(amqp = "memory://");
//! ```
//!
//! - Routes: [`route`] (`amqp`, `cron`, `every`, `http`, `sse`), with every
//!   option checked at compile time; hooks: [`on_startup`], [`on_shutdown`];
//!   publish-only queues: [`declare_queue!`]; the binary: [`main!`] (run,
//!   `routes`, `check`, `check --drift`, `topology --format
//!   definitions|asyncapi`, `--help`).
//! - Failures: a per-message decision ([`Message::reject`], ...), the
//!   route's policy, typed outcomes ([`Error::reject`], ...), `bisect` and
//!   `timeout`; `sse` batches retried, then dead-lettered; nothing is lost.
//! - Publishing: [`Publisher::send`] and [`Publisher::declare_queue`].
//! - Tests: [`testing::TestApp`] (and `testing::http::TestServer`).
//!
//! The guide starts at the
//! [README](https://github.com/worker-framework/worker#readme), with a page
//! each on [routes](https://github.com/worker-framework/worker/blob/main/docs/routes.md),
//! [publishing](https://github.com/worker-framework/worker/blob/main/docs/publishing.md),
//! [configuration](https://github.com/worker-framework/worker/blob/main/docs/configuration.md)
//! and [testing](https://github.com/worker-framework/worker/blob/main/docs/testing.md); the full
//! contract is in [semantics](https://github.com/worker-framework/worker/blob/main/docs/semantics.md)
//! and [operations](https://github.com/worker-framework/worker/blob/main/docs/operations.md)
//! (HTTP server, metrics, health, SSE), and how the crates fit together in
//! [architecture](https://github.com/worker-framework/worker/blob/main/docs/architecture.md).
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `amqp` | yes | RabbitMQ (`amqp://`, `amqps://` URLs, clusters as comma-separated lists), through `worker-framework-rabbitmq` on lapin |
//! | `http` | yes | `http` routes, `/metrics` and `/health/*`, on axum (modules `http`, `metrics`, `testing::http`) |
//! | `sse` | yes | `sse` routes, consumers of Server-Sent-Event streams (implies `http`; pulls in the reqwest HTTP client; module `sse`) |
//! | `management` | no | the RabbitMQ management API client (implies `amqp`; reqwest): `check --drift` compares the queues' arguments through it, and `amqps://` nodes report their version through it. Without it, setting `WORKER_AMQP_MANAGEMENT_URL` is an error that names this feature |
//! | `otel` | no | OpenTelemetry traces: batch, publish, HTTP and run spans, W3C context in message headers, the OTLP exporter from `OTEL_*` variables ([`otel`]) |
//! | `schemars` | no | message schemas in `topology --format asyncapi` for types deriving `schemars::JsonSchema` (schemars 1) |
//!
//! The embedded broker (`memory://`) is always there. With
//! `default-features = false, features = ["amqp"]`, a worker has no HTTP
//! stack and no HTTP client.
//!
//! # Versions
//!
//! The framework's crates are released together: `worker-framework`
//! requires its macros, core and backend crates at exactly its own version,
//! so depend on `worker-framework` alone. The code the macros generate calls
//! a `#[doc(hidden)]` module named after that version (`__private_0_1_0`);
//! it is not an API. Changes are listed in
//! [CHANGELOG.md](https://github.com/worker-framework/worker/blob/main/CHANGELOG.md).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use worker_core::{
    Action, AmqpValue, App, Binding, BrokerError, BrokerErrorKind, Bytes, Delivery, Error,
    ExchangeKind, Headers, IntoStatus, Message, Properties, PublishError, Publisher, QueueOptions,
    State,
};
pub use worker_macros::{declare_queue, main, on_shutdown, on_startup, route};

/// OpenTelemetry: W3C trace context through the broker, batch spans with
/// links, OTLP export from the standard `OTEL_*` variables. Spans are made
/// only with the `otel` feature and an OTLP endpoint configured (or a
/// `layer` installed); otherwise these functions do nothing.
pub mod otel {
    pub use worker_core::backend::otel::{current_headers, shutdown};
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub use worker_core::backend::otel::{layer, Tracer};
    /// The OpenTelemetry crates the `otel` feature is built on, at the
    /// versions it uses (for a custom exporter, sampler or resource).
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub mod deps {
        pub use opentelemetry;
        pub use opentelemetry_sdk;
    }
}

/// The embedded in-memory broker (`memory://`), as [`testing::TestApp`]
/// shows it.
pub mod memory {
    pub use worker_core::backend::memory::{MemoryBroker, QueueStats, StoredMessage};
}

/// Configuration read from the environment.
pub mod config {
    pub use worker_core::backend::config::{Config, ConfigError, Variable, VARIABLES};
}

/// Running an application: the runtime builder, for when link-time
/// discovery is unavailable, and the `routes`/`check` command line.
pub mod runtime {
    pub use worker_core::backend::batch::FlushReason;
    pub use worker_core::backend::cli::{
        asyncapi, check, check_drift, definitions, route_table, Program,
    };
    /// Installs the generated binary's subscriber: logs from `WORKER_LOG`
    /// and `WORKER_LOG_FORMAT`, and, with the `otel` feature and an OTLP
    /// endpoint set, the OpenTelemetry exporter (for programs that build
    /// their runtime by hand; call [`otel::shutdown`](crate::otel::shutdown)
    /// before exiting).
    pub use worker_core::backend::logging::init as init_logging;
    pub use worker_core::backend::metrics::{
        DelayHistogram, DurationHistogram, HistogramSnapshot, OutcomeCounts, RouteStats,
        StatsRegistry,
    };
    pub use worker_core::backend::runtime::{
        Backends, Connection, ConnectionKey, Connector, Coordination, Runtime, RuntimeBuilder,
        Service, ServiceContext,
    };
}

/// Testing harness: run routes on a private embedded broker and assert on
/// per-queue outcomes.
pub mod testing {
    pub use worker_core::testing::{QueueReport, TestApp, TestAppBuilder};

    /// The real HTTP server (and SSE consumers) on an ephemeral port:
    /// [`TestServer`](http::TestServer).
    #[cfg(feature = "http")]
    pub mod http {
        pub use worker_http::test_server::*;
    }
}

/// HTTP routes: axum's extractors and responses (`Json`, `Path`, `Query`,
/// `Form`, `StatusCode`, ...), the JSON error shape, and the server service.
///
/// Malformed input is answered with a 4xx and `{"error": "...", "status": N}`;
/// a handler panic with a logged 500.
#[cfg(feature = "http")]
pub mod http {
    pub use worker_http::{
        axum, error_response, header, ErrorBody, Extension, Form, HeaderMap, HeaderValue, Html,
        HttpService, IntoResponse, Json, MatchedPath, Method, Path, Query, Redirect, Request,
        Response, Router, StatusCode, Uri,
    };
}

/// Server-Sent-Event consumers: [`Event`](sse::Event) and the service.
#[cfg(feature = "sse")]
pub mod sse {
    pub use worker_http::sse::{Event, SseService};
}

/// Prometheus metrics: the process-wide [`registry`](metrics::registry) for
/// the application's own metrics, scraped with the runtime's on
/// `WORKER_METRICS_PATH` (default `/metrics`).
#[cfg(feature = "http")]
pub mod metrics {
    pub use worker_http::metrics::{prometheus_client, registry, Registry};
}

/// Every backend compiled into this build: the RabbitMQ connector
/// (feature `amqp`), the HTTP server (`http`), the SSE consumers (`sse`),
/// and always the embedded broker.
pub fn backends() -> runtime::Backends {
    backends_with(
        #[cfg(feature = "http")]
        worker_http::HttpService::new(),
    )
}

/// [`backends`], with `http` as the HTTP server.
fn backends_with(#[cfg(feature = "http")] http: worker_http::HttpService) -> runtime::Backends {
    let backends = runtime::Backends::new();
    #[cfg(feature = "amqp")]
    let backends = backends.connector(std::sync::Arc::new(worker_rabbitmq::RabbitConnector));
    #[cfg(feature = "http")]
    let backends = backends.service(std::sync::Arc::new(http));
    #[cfg(feature = "sse")]
    let backends = backends.service(std::sync::Arc::new(worker_http::sse::SseService::new()));
    backends
}

/// What the code generated by the macros calls; not a public API.
#[doc(hidden)]
pub mod __private_0_1_0 {
    pub use worker_core::__private_0_1_0::*;

    /// What `#[route(http)]` expands to.
    #[cfg(feature = "http")]
    pub mod http {
        pub use worker_http::__private_0_1_0::http::*;
    }

    /// What `#[route(sse)]` expands to.
    #[cfg(feature = "sse")]
    pub mod sse {
        pub use worker_http::__private_0_1_0::sse::*;
    }

    /// Entry point generated by `worker::main!`: runs the command line over
    /// every backend compiled in and exits the process with its code.
    pub fn run_main(options: MainOptions, program: Program) {
        let code = worker_core::backend::cli::main(options, program, crate::backends());
        std::process::exit(code);
    }

    /// Entry point generated by `worker::main!(http_layers = f)`: as
    /// [`run_main`], with `f` applied to the HTTP routes.
    #[cfg(feature = "http")]
    pub fn run_main_with_http_layers(
        options: MainOptions,
        program: Program,
        layers: fn(worker_http::Router) -> worker_http::Router,
    ) {
        let http = worker_http::HttpService::new().with_layers(layers);
        let code = worker_core::backend::cli::main(options, program, crate::backends_with(http));
        std::process::exit(code);
    }
}
