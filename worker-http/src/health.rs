//! `/health/live` and `/health/ready`.
//!
//! Ready means: startup is over (queues declared, startup hooks run; until
//! then the status is `starting`), every amqp and sse route's consumer is
//! registered (its `RouteStats::is_ready()`), every broker connection used
//! by an amqp route is up, and the application is not shutting down. A route whose consumer
//! stands by on a single-active-consumer queue is ready, and listed under
//! `standby`.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use worker_core::backend::metrics::RouteStats;
use worker_core::backend::registry::RouteKind;
use worker_core::backend::runtime::{Connection, ConnectionKey, ServiceContext};
use worker_core::App;

/// What readiness depends on.
pub(crate) struct Readiness {
    app: App,
    routes: Vec<(&'static str, Arc<RouteStats>)>,
    connections: Vec<(ConnectionKey, Arc<dyn Connection>)>,
}

impl Readiness {
    pub(crate) fn new(ctx: &ServiceContext) -> Self {
        let routes = ctx
            .routes
            .iter()
            .filter(|r| match r.kind {
                RouteKind::Amqp { .. } => true,
                RouteKind::Service(s) => s.consumes(),
                _ => false,
            })
            .map(|r| (r.name, ctx.stats.route(r.name, r.kind.backend())))
            .collect();
        Readiness {
            app: ctx.app.clone(),
            routes,
            connections: ctx.used_connections(),
        }
    }
}

#[derive(Serialize)]
struct Report {
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    connections: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    standby: Vec<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    shutting_down: bool,
}

pub(crate) fn ready(r: &Readiness) -> Response {
    let routes: Vec<&'static str> = r
        .routes
        .iter()
        .filter(|(_, s)| !s.is_ready())
        .map(|(n, _)| *n)
        .collect();
    let connections: Vec<String> = r
        .connections
        .iter()
        .filter(|(_, c)| !c.is_connected())
        .map(|(k, _)| k.to_string())
        .collect();
    let standby = r
        .routes
        .iter()
        .filter(|(_, s)| s.is_ready() && s.is_standby())
        .map(|(n, _)| *n)
        .collect();
    let shutting_down = r.app.is_shutting_down();
    let started = r.app.is_started();
    let ok = started && routes.is_empty() && connections.is_empty() && !shutting_down;
    let report = Report {
        status: match (ok, started) {
            (true, _) => "ready",
            (false, false) => "starting",
            (false, true) => "not ready",
        },
        routes,
        connections,
        standby,
        shutting_down,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}
