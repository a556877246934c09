//! Builds the axum router of an application: user routes grouped by path,
//! each path wrapped in its guard (metrics, panic guard, JSON errors; see
//! [`crate::guard`]), plus the operations endpoints and the JSON 404
//! fallback.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{Method, StatusCode};
use axum::routing::{get, MethodFilter, MethodRouter};
use axum::Router;
use worker_core::backend::call::panic_message;
use worker_core::backend::registry::Route;
use worker_core::{App, Error};

use crate::error::error_response;
use crate::guard::GuardLayer;
use crate::health::{self, Readiness};
use crate::metrics::{self, HttpMetrics, Scraper};

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

/// Runs `f`, turning a panic of axum's route building (conflicting paths,
/// overlapping methods) into an error.
fn no_panic<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> Result<T, Error> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|p| Error::msg(format!("{}: {}", what(), panic_message(&*p))))
}

/// What `main!(http_layers = f)` applies to the HTTP routes.
pub type Layers = fn(Router) -> Router;

/// The user routes grouped by path: each path's merged method router, and
/// the routes that own it (for conflict messages).
type ByPath = BTreeMap<&'static str, (MethodRouter<App>, Vec<&'static Route>)>;

/// The router of `routes` (non-http routes are ignored), and the
/// endpoints unless `with_ops` is false (they are served on
/// `WORKER_OPS_ADDR` then, by [`build_ops`]). Until startup is over (the
/// startup hooks have run), the user routes answer `503` with
/// `Retry-After: 1`: the state they read may not be there yet; `/health/*`
/// and the metrics answer at once.
pub(crate) fn build(
    routes: &[&'static Route],
    app: App,
    ep: &Endpoints,
    with_ops: bool,
    layers: Option<Layers>,
) -> Result<Router, Error> {
    let mut router = user_routes(routes, &ep.metrics_path, &ep.http)?;
    if routes.iter().any(|r| crate::route::http_route(r).is_some()) {
        router = router.route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            until_started,
        ));
    }
    let mut router = router.with_state(app.clone());
    if let Some(layers) = layers {
        router = no_panic(
            || "main!(http_layers): the function".to_owned(),
            move || layers(router),
        )?;
    }
    if with_ops {
        router = router.merge(operations(Router::new(), ep).with_state(app));
    }
    Ok(not_found(router, ep))
}

/// The router of the health and metrics endpoints alone.
pub(crate) fn build_ops(app: App, ep: &Endpoints) -> Router {
    not_found(operations(Router::new(), ep).with_state(app), ep)
}

async fn until_started(
    axum::extract::State(app): axum::extract::State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if app.is_started() {
        return next.run(req).await;
    }
    let mut res = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "the worker is starting: its startup hooks have not finished",
    );
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    res
}

/// Builds the user routes' router as the server would, to report at
/// validation (startup and `check`) what axum would refuse.
pub(crate) fn check(routes: &[&'static Route], metrics_path: &str) -> Result<(), Error> {
    user_routes(routes, metrics_path, &HttpMetrics::default()).map(|_| ())
}

/// The user routes, grouped by path, each path in its guard.
fn user_routes(
    routes: &[&'static Route],
    metrics_path: &str,
    http: &HttpMetrics,
) -> Result<Router<App>, Error> {
    let reserved = [metrics_path, LIVE_PATH, READY_PATH];
    let mut by_path = ByPath::new();
    let mut served: BTreeMap<(&str, &str), &Route> = BTreeMap::new();
    for route in routes {
        let Some(record) = crate::route::http_route(route) else {
            continue;
        };
        let options = &record.options;
        let filter = methods(route, options.methods)?;
        let erased = (record.make)();
        for &path in options.paths {
            check_reserved(route, path, &reserved, metrics_path)?;
            for &method in options.methods {
                if let Some(other) = served.insert((method, path), route) {
                    return Err(Error::msg(format!(
                        "`{method} {path}` is served by two routes: {} and {}",
                        describe(other),
                        describe(route)
                    )));
                }
            }
            add(&mut by_path, route, path, erased.method_router(filter))?;
        }
    }
    let mut router: Router<App> = Router::new();
    for (path, (mr, owners)) in by_path {
        let stats = http.path(path);
        let mr = mr.layer(GuardLayer::new(stats).traced());
        router = no_panic(
            || format!("{} cannot be served at `{path}`", describe(owners[0])),
            move || router.route(path, mr),
        )?;
    }
    Ok(router)
}

/// The method filter of a route's methods.
fn methods(route: &Route, methods: &[&str]) -> Result<MethodFilter, Error> {
    let mut filter: Option<MethodFilter> = None;
    for m in methods {
        let f = method_filter(m)
            .ok_or_else(|| Error::msg(format!("{}: unknown method `{m}`", describe(route))))?;
        filter = Some(filter.map_or(f, |prev| prev.or(f)));
    }
    filter.ok_or_else(|| Error::msg(format!("{}: no method", describe(route))))
}

/// A route may not take a path the server serves itself.
fn check_reserved(
    route: &Route,
    path: &str,
    reserved: &[&str],
    metrics_path: &str,
) -> Result<(), Error> {
    if !reserved.contains(&path) {
        return Ok(());
    }
    let hint = if path == metrics_path {
        "; move the metrics endpoint with `WORKER_METRICS_PATH`"
    } else {
        ""
    };
    Err(Error::msg(format!(
        "{}: `{path}` is served by worker itself{hint}",
        describe(route)
    )))
}

/// Adds a route's method router at `path`, merged with the other routes of
/// that path (axum panics on overlapping methods: that is an error here).
fn add(
    by_path: &mut ByPath,
    route: &'static Route,
    path: &'static str,
    mr: MethodRouter<App>,
) -> Result<(), Error> {
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
    Ok(())
}

/// The health and metrics endpoints.
fn operations(mut router: Router<App>, ep: &Endpoints) -> Router<App> {
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
        router = router.route(path, mr.layer(GuardLayer::new(stats)));
    }
    router
}

/// The JSON 404 fallback.
fn not_found(router: Router, ep: &Endpoints) -> Router {
    let unmatched = ep.http.unmatched();
    router.fallback(move |method: Method| {
        let unmatched = unmatched.clone();
        async move {
            let started = Instant::now();
            let res = error_response(StatusCode::NOT_FOUND, "not found");
            unmatched.record(&method, res.status(), started.elapsed());
            res
        }
    })
}
