//! Startup validation of the whole route set.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::registry::{Route, RouteKind};

/// Explains the linking rule when no route is registered.
pub const NO_ROUTES: &str = "no route is registered: annotate an `async fn` with `#[route(...)]` \
in this binary, or, if your handlers live in a library crate, make sure that crate is linked \
(reference it from the binary, e.g. `use my_handlers as _;`): an unreferenced crate is not \
linked and its routes vanish";

/// The connection a route uses: `(connection name, vhost)`.
pub fn connection_key(route: &Route) -> Option<(String, Option<&'static str>)> {
    let o = route.amqp()?;
    Some((
        o.connection.unwrap_or("default").to_ascii_lowercase(),
        o.vhost,
    ))
}

/// Effective batch size of an amqp route.
pub fn effective_prefetch(route: &Route, config: &Config) -> u16 {
    route
        .amqp()
        .and_then(|o| o.prefetch)
        .unwrap_or(config.prefetch)
}

/// Checks the route set against the configuration. Returns warnings, or
/// every error found.
pub fn validate(routes: &[&'static Route], config: &Config) -> Result<Vec<String>, Vec<String>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    if routes.is_empty() {
        errors.push(NO_ROUTES.to_owned());
    }
    let mut consumed: BTreeMap<(String, Option<&str>, &str), &Route> = BTreeMap::new();
    let mut http: BTreeMap<(&str, &str), &Route> = BTreeMap::new();
    for route in routes {
        match &route.kind {
            RouteKind::Amqp { options, .. } => {
                let (conn, vhost) = connection_key(route).expect("amqp route");
                if config.connection_url(Some(&conn)).is_none() {
                    errors.push(format!(
                        "route `{}` ({}) uses connection `{conn}`, but `WORKER_AMQP_{}_URL` is not set",
                        route.name,
                        route.location,
                        conn.to_ascii_uppercase()
                    ));
                }
                for q in options.queues {
                    if let Some(other) = consumed.insert((conn.clone(), vhost, q), route) {
                        errors.push(format!(
                            "queue `{q}` on connection `{conn}` is consumed by two routes: `{}` ({}) and `{}` ({})",
                            other.name, other.location, route.name, route.location
                        ));
                    }
                }
                let prefetch = effective_prefetch(route, config);
                if options.bulk_size > prefetch {
                    warnings.push(format!(
                        "route `{}`: bulk_size {} is larger than the prefetch {prefetch}; batches hold at most {prefetch} messages (raise WORKER_AMQP_PREFETCH or the route's `prefetch`)",
                        route.name, options.bulk_size
                    ));
                }
            }
            RouteKind::Http { options, .. } => {
                for m in options.methods {
                    for p in options.paths {
                        if let Some(other) = http.insert((m, p), route) {
                            errors.push(format!(
                                "`{m} {p}` is served by two routes: `{}` ({}) and `{}` ({})",
                                other.name, other.location, route.name, route.location
                            ));
                        }
                    }
                }
            }
            RouteKind::Every { .. } | RouteKind::Sse { .. } => {}
        }
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MainOptions;
    use crate::registry::{AmqpOptions, BoxFuture, Location};
    use crate::{App, Batch, Error};

    fn nop(_b: Batch, _a: App) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    const fn route(name: &'static str, line: u32, options: AmqpOptions) -> Route {
        Route {
            name,
            module: "m",
            location: Location {
                file: "src/main.rs",
                line,
                column: 1,
            },
            kind: RouteKind::Amqp {
                options,
                handler: nop,
            },
        }
    }

    static A: Route = route("a", 10, AmqpOptions::new(&["items", "other"]));
    static B: Route = route("b", 20, AmqpOptions::new(&["items"]));
    static C: Route = route(
        "c",
        30,
        AmqpOptions {
            connection: Some("eu"),
            bulk_size: 500,
            ..AmqpOptions::new(&["items"])
        },
    );
    static D: Route = route(
        "d",
        40,
        AmqpOptions {
            bulk_size: 500,
            ..AmqpOptions::new(&["big"])
        },
    );

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            &MainOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn no_route_explains_the_linking_rule() {
        let e = validate(&[], &config(&[])).unwrap_err();
        assert!(e[0].contains("use my_handlers as _;"), "{e:?}");
    }

    #[test]
    fn two_routes_on_one_queue_cite_both_locations() {
        let e = validate(&[&A, &B], &config(&[])).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("`items`")
                && e[0].contains("src/main.rs:10:1")
                && e[0].contains("src/main.rs:20:1"),
            "{e:?}"
        );
    }

    #[test]
    fn the_same_queue_on_another_connection_is_fine_but_it_must_be_configured() {
        let e = validate(&[&A, &C], &config(&[])).unwrap_err();
        assert!(e[0].contains("WORKER_AMQP_EU_URL"), "{e:?}");
        let w = validate(&[&A, &C], &config(&[("WORKER_AMQP_EU_URL", "memory://eu")])).unwrap();
        assert_eq!(w.len(), 1, "bulk_size 500 > prefetch 128: {w:?}");
    }

    #[test]
    fn bulk_size_above_prefetch_warns_with_the_effective_size() {
        let w = validate(&[&D], &config(&[])).unwrap();
        assert!(w[0].contains("at most 128"), "{w:?}");
        assert!(
            validate(&[&D], &config(&[("WORKER_AMQP_PREFETCH", "1000")]))
                .unwrap()
                .is_empty()
        );
    }
}
