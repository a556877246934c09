//! Builds the axum router of an application: user routes grouped by path,
//! each path wrapped in its metrics and panic guard, plus the operations
//! endpoints, the JSON 404 fallback and the JSON error middleware.

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, MethodFilter, MethodRouter};
use axum::Router;
use futures_util::FutureExt;
use worker_core::registry::{Route, RouteKind};
use worker_core::{App, Error};

use crate::error::{error_response, json_errors};
use crate::handler::ErasedHandler;
use crate::health::{self, Readiness};
use crate::metrics::{self, HttpMetrics, PathStats, Scraper};

/// Paths served by the server itself.
pub(crate) const LIVE_PATH: &str = "/health/live";
/// Readiness endpoint.
pub(crate) const READY_PATH: &str = "/health/ready";

/// Everything the router needs besides the routes.
pub(crate) struct Endpoints {
    pub metrics_path: String,
    pub scraper: Arc<Scraper>,
    pub readiness: Arc<Readiness>,
    pub http: Arc<HttpMetrics>,
}

fn method_filter(method: &str) -> Option<MethodFilter> {
    Some(match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        "HEAD" => MethodFilter::HEAD,
        "OPTIONS" => MethodFilter::OPTIONS,
        "TRACE" => MethodFilter::TRACE,
        "CONNECT" => MethodFilter::CONNECT,
        _ => return None,
    })
}

fn describe(route: &Route) -> String {
    format!("http route `{}` ({})", route.name, route.location)
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Runs `f`, turning a panic of axum's route building (conflicting paths,
/// overlapping methods) into an error.
fn no_panic<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> Result<T, Error> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|p| Error::msg(format!("{}: {}", what(), panic_text(&*p))))
}

/// The router of `routes` (non-http routes are ignored) and the endpoints.
pub(crate) fn build(routes: &[&'static Route], app: App, ep: Endpoints) -> Result<Router, Error> {
    let reserved = [ep.metrics_path.as_str(), LIVE_PATH, READY_PATH];
    let mut by_path: BTreeMap<&'static str, (MethodRouter<App>, Vec<&'static Route>)> =
        BTreeMap::new();
    for route in routes {
        let RouteKind::Http { options, make } = route.kind else {
            continue;
        };
        let mut filter: Option<MethodFilter> = None;
        for m in options.methods {
            let f = method_filter(m)
                .ok_or_else(|| Error::msg(format!("{}: unknown method `{m}`", describe(route))))?;
            filter = Some(filter.map_or(f, |prev| prev.or(f)));
        }
        let Some(filter) = filter else {
            return Err(Error::msg(format!("{}: no method", describe(route))));
        };
        let erased = make();
        let Some(erased) = erased.downcast_ref::<ErasedHandler>() else {
            return Err(Error::msg(format!(
                "{}: the record's `make` did not return a `worker_http::__private::ErasedHandler` (was it built with another version of worker?)",
                describe(route)
            )));
        };
        for &path in options.paths {
            if reserved.contains(&path) {
                let hint = if path == ep.metrics_path {
                    "; move the metrics endpoint with `WORKER_METRICS_PATH`"
                } else {
                    ""
                };
                return Err(Error::msg(format!(
                    "{}: `{path}` is served by worker itself{hint}",
                    describe(route)
                )));
            }
            let mr = erased.method_router(filter);
            match by_path.remove(path) {
                None => {
                    by_path.insert(path, (mr, vec![route]));
                }
                Some((prev, mut owners)) => {
                    let merged = no_panic(
                        || {
                            format!(
                                "{} conflicts with {} on `{path}`",
                                describe(route),
                                owners
                                    .iter()
                                    .map(|r| describe(r))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        },
                        move || prev.merge(mr),
                    )?;
                    owners.push(route);
                    by_path.insert(path, (merged, owners));
                }
            }
        }
    }

    let mut router: Router<App> = Router::new();
    for (path, (mr, owners)) in by_path {
        let stats = ep.http.path(path);
        let mr = mr.layer(middleware::from_fn_with_state(stats, guard));
        router = no_panic(
            || format!("{} cannot be served at `{path}`", describe(owners[0])),
            move || router.route(path, mr),
        )?;
    }

    let scraper = ep.scraper.clone();
    let readiness = ep.readiness.clone();
    let ops: [(&str, MethodRouter<App>); 3] = [
        (
            LIVE_PATH,
            get(|| async { axum::Json(serde_json::json!({ "status": "live" })) }),
        ),
        (
            READY_PATH,
            get(move || {
                let readiness = readiness.clone();
                async move { health::ready(&readiness) }
            }),
        ),
        (
            ep.metrics_path.as_str(),
            get(move || {
                let scraper = scraper.clone();
                async move { metrics::scrape(&scraper) }
            }),
        ),
    ];
    for (path, mr) in ops {
        let stats = ep.http.path(path);
        router = router.route(path, mr.layer(middleware::from_fn_with_state(stats, guard)));
    }

    let unmatched = ep.http.unmatched();
    let router = router
        .fallback(move |method: Method| {
            let unmatched = unmatched.clone();
            async move {
                let started = Instant::now();
                let res = error_response(StatusCode::NOT_FOUND, "not found");
                unmatched.record(&method, res.status(), started.elapsed());
                res
            }
        })
        .layer(middleware::from_fn(json_errors))
        .with_state(app);
    Ok(router)
}

/// Per-path middleware: request count and duration by method and status; a
/// handler panic becomes a logged `500` and the server keeps serving.
async fn guard(State(stats): State<Arc<PathStats>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let res = match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(res) => res,
        Err(panic) => {
            tracing::error!(
                method = %method,
                route = stats.route(),
                panic = panic_text(&*panic),
                "http handler panicked"
            );
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        }
    };
    stats.record(&method, res.status(), started.elapsed());
    res
}
