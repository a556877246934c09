//! HTTP routes, Prometheus metrics, health endpoints and the SSE consumer of
//! the `worker` framework.
//!
//! [`HttpService`] is a [`worker_core::runtime::Service`]: the runtime starts
//! it with the application's routes and serves, on `WORKER_HTTP_ADDR`:
//!
//! - every `#[route(http, ...)]` handler (axum handlers with state [`App`]),
//! - `GET /metrics` (moved by `WORKER_METRICS_PATH`): Prometheus/OpenMetrics
//!   text of every route's counters, HTTP requests, the process, and the
//!   metrics users register on [`metrics::registry`],
//! - `GET /health/live` and `GET /health/ready`.
//!
//! Errors are JSON everywhere: `{"error": "...", "status": 400}` for
//! malformed input (axum's rejections are turned into that shape), `404` and
//! `405`, and `500` for a handler panic (the server keeps serving).
//!
//! [`App`]: worker_core::App

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod guard;
mod handler;
mod health;
pub mod metrics;
mod router;
mod server;
mod service;
#[cfg(feature = "sse")]
pub mod sse;
pub mod testing;

pub use error::{error_response, ErrorBody};
pub use service::HttpService;

/// axum's extractors and responses, as `worker::http` re-exports them.
pub use axum::extract::{Extension, Form, MatchedPath, Path, Query, Request};
pub use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
pub use axum::response::{Html, IntoResponse, Redirect, Response};
pub use axum::{Json, Router};

/// Everything axum, for what the re-exports above do not cover.
pub use axum;

/// What the `#[route(http)]` expansion calls; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::handler::{erase_handler, ErasedHandler};
}
