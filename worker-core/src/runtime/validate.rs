//! Startup validation of the whole route set: each route's options by the
//! macros' rules (records built by hand), then the rules between routes
//! (a queue consumed twice, an HTTP method and path served twice), and the
//! routes against the configuration (named connections, prefetch).

use std::collections::BTreeMap;
use std::time::Duration;

use super::connection::ConnectionKey;
use crate::broker::QueueOptions;
use crate::config::Config;
use crate::registry::{AmqpOptions, QueueDeclaration, Route, RouteKind};
use crate::settlement::Action;

/// Explains the linking rule when no route is registered.
pub(crate) const NO_ROUTES: &str =
    "no route is registered: annotate an `async fn` with `#[route(...)]` \
in this binary, or, if your handlers live in a library crate, make sure that crate is linked \
(reference it from the binary, e.g. `use my_handlers as _;`): an unreferenced crate is not \
linked and its routes vanish";

/// The prefetch window of an amqp route: its own, else the connection's.
pub(crate) fn effective_prefetch(route: &Route, config: &Config) -> u16 {
    route
        .amqp()
        .and_then(|o| o.prefetch)
        .unwrap_or(config.prefetch)
}

/// What validation found: problems that stop startup, and warnings.
#[derive(Debug, Default)]
struct Findings {
    errors: Vec<String>,
    warnings: Vec<String>,
}

/// Checks the route set against the configuration (the tests' shorthand).
#[cfg(test)]
pub(crate) fn validate(
    routes: &[&'static Route],
    config: &Config,
) -> Result<Vec<String>, Vec<String>> {
    validate_with(routes, &[], config)
}

/// Checks the route set, and the queues `declare_queue!` declares, against
/// the configuration. Returns warnings, or every error found.
pub(crate) fn validate_with(
    routes: &[&'static Route],
    declarations: &[&'static QueueDeclaration],
    config: &Config,
) -> Result<Vec<String>, Vec<String>> {
    let mut found = Findings::default();
    check_declarations(declarations, routes, config, &mut found);
    if routes.is_empty() {
        found.errors.push(NO_ROUTES.to_owned());
    }
    for route in routes {
        for problem in route.problems() {
            found.errors.push(format!(
                "route `{}` ({}): {problem}",
                route.name, route.location
            ));
        }
    }
    check_connections(routes, config, &mut found);
    check_amqp(routes, config, &mut found);
    if found.errors.is_empty() {
        Ok(found.warnings)
    } else {
        Err(found.errors)
    }
}

/// The broker connection of every route that uses one is configured.
fn check_connections(routes: &[&'static Route], config: &Config, found: &mut Findings) {
    for route in routes {
        let Some(key) = ConnectionKey::of(route) else {
            continue;
        };
        if config.connection_url(Some(&key.name)).is_none() {
            found.errors.push(format!(
                "route `{}` ({}) uses connection `{}`, but `WORKER_AMQP_{}_URL` is not set",
                route.name,
                route.location,
                key.name,
                key.name.to_ascii_uppercase()
            ));
        }
    }
}

/// No queue is consumed by two routes, batches fit the prefetch window.
fn check_amqp(routes: &[&'static Route], config: &Config, found: &mut Findings) {
    let mut consumed: BTreeMap<(ConnectionKey, &str), &Route> = BTreeMap::new();
    let mut exchanges: BTreeMap<(ConnectionKey, &str), &Route> = BTreeMap::new();
    for route in routes {
        let (Some(options), Some(key)) = (route.amqp(), ConnectionKey::of(route)) else {
            continue;
        };
        if let Some(exchange) = options.exchange.filter(|_| options.declare) {
            match exchanges.get(&(key.clone(), exchange)).and_then(|r| r.amqp().map(|o| (r, o))) {
                Some((other, o)) if o.exchange_type != options.exchange_type => found.errors.push(format!(
                    "exchange `{exchange}` on connection `{}` is declared as {} by route `{}` ({}) and as {} by route `{}` ({})",
                    key.name, o.exchange_type, other.name, other.location, options.exchange_type, route.name, route.location
                )),
                Some(_) => {}
                None => {
                    exchanges.insert((key.clone(), exchange), route);
                }
            }
        }
        for q in options.queues {
            if let Some(other) = consumed.insert((key.clone(), q), route) {
                found.errors.push(format!(
                    "queue `{q}` on connection `{}` is consumed by two routes: `{}` ({}) and `{}` ({})",
                    key.name, other.name, other.location, route.name, route.location
                ));
            }
        }
        let prefetch = effective_prefetch(route, config);
        if options.bulk_size > prefetch {
            found.warnings.push(format!(
                "route `{}`: bulk_size {} is larger than the prefetch {prefetch}; batches hold at most {prefetch} messages (raise WORKER_AMQP_PREFETCH or the route's `prefetch`)",
                route.name, options.bulk_size
            ));
        }
        if let Some(w) = crate::rules::route::requeue_meets_delivery_limit(
            options.on_exception == Action::Requeue,
            options.max_retries.is_some(),
            options.delivery_limit.and_then(|l| l.limit()),
        ) {
            found.warnings.push(format!("route `{}`: {w}", route.name));
        }
    }
}

/// The longest a message of `options` can stay unacked: its flush
/// deadline, then every handler run of its batch at the `timeout` (with
/// `bisect`, `2 * ceil(log2(batch)) + 1` runs), for each round of
/// `max_concurrency` batches that the prefetch window holds ahead of it.
/// `None` without a `timeout` (a handler may then run for ever).
pub(crate) fn longest_unacked(
    options: &AmqpOptions,
    prefetch: u16,
    config: &Config,
) -> Option<Duration> {
    let timeout = options.timeout?;
    let batch = u32::from(options.bulk_size.min(prefetch)).max(1);
    let runs = if options.bisect && batch > 1 {
        2 * (u32::BITS - (batch - 1).leading_zeros()) + 1
    } else {
        1
    };
    let batches = u32::from(prefetch).div_ceil(batch);
    let rounds = batches.div_ceil(options.max_concurrency.max(1));
    let flush = options
        .bulk_flush_interval
        .unwrap_or(config.bulk_flush_interval);
    Some(flush + timeout.saturating_mul(runs.saturating_mul(rounds)))
}

/// Each declaration by its rules, on a configured connection, and the same
/// queue never declared two ways (by two declarations, or by one and a
/// route that declares it).
fn check_declarations(
    declarations: &[&'static QueueDeclaration],
    routes: &[&'static Route],
    config: &Config,
    found: &mut Findings,
) {
    let mut declared: BTreeMap<(String, &str), (QueueOptions, String)> = BTreeMap::new();
    for route in routes {
        let (Some(options), Some(key)) = (route.amqp(), ConnectionKey::of(route)) else {
            continue;
        };
        if !options.declare || key.vhost.is_some() {
            continue;
        }
        for q in options.shared_queues() {
            let by = format!("route `{}` ({})", route.name, route.location);
            declared.insert((key.name.clone(), q), (options.declared_queue(), by));
        }
    }
    for d in declarations {
        let by = format!("`declare_queue!(\"{}\")` ({})", d.queue, d.location);
        for problem in d.problems() {
            found.errors.push(format!("{by}: {problem}"));
        }
        let name = d.connection_name();
        if config.connection_url(Some(name)).is_none() {
            found.errors.push(format!(
                "{by} uses connection `{name}`, but `WORKER_AMQP_{}_URL` is not set",
                name.to_ascii_uppercase()
            ));
        }
        let options = d.queue_options();
        match declared.get(&(name.to_owned(), d.queue)) {
            Some((other, other_by)) if *other != options => found.errors.push(format!(
                "queue `{}` on connection `{name}` is declared two ways: by {other_by} and by {by}",
                d.queue
            )),
            Some(_) => {}
            None => {
                declared.insert((name.to_owned(), d.queue), (options, by));
            }
        }
    }
}

/// The routes of a service backend (`RouteKind::Service`) that no service
/// of the runtime serves (`served(backend)` is false), one error each.
pub(crate) fn unserved(routes: &[&'static Route], served: impl Fn(&str) -> bool) -> Vec<String> {
    let mut errors = Vec::new();
    for route in routes {
        let RouteKind::Service(record) = route.kind else {
            continue;
        };
        let backend = record.backend();
        if !served(backend) {
            errors.push(format!(
                "route `{}` ({}) is a `{backend}` route, and no service of this runtime serves `{backend}` routes (the facade's `worker::backends()` has those of its enabled features)",
                route.name, route.location
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;
    use crate::broker::ExchangeKind;
    use crate::config::MainOptions;
    use crate::future::BoxFuture;
    use crate::registry::{AmqpOptions, Location};
    use crate::{App, Error};

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

    static BUILT: Route = Route::new_amqp(
        "built",
        "m",
        AmqpOptions {
            bulk_size: 0,
            ..AmqpOptions::new(&["amq.reserved"])
        },
        nop,
    );

    #[test]
    fn a_route_built_by_hand_fails_as_the_macro_would_with_its_location() {
        let e = validate(&[&BUILT], &config(&[])).unwrap_err();
        let at = format!("route `built` ({}:{}", file!(), BUILT.location.line);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with(&at), "{e:?}");
        assert!(
            e[0].ends_with(
                "queue name `amq.reserved` uses the `amq.` prefix, which the broker reserves"
            ),
            "{e:?}"
        );
        assert!(
            e[1].ends_with("`bulk_size` must be in 1..=65535, got `0`"),
            "{e:?}"
        );
    }

    static SLOW: Route = Route::new_amqp(
        "slow",
        "m",
        AmqpOptions {
            bulk_size: 100,
            timeout: Some(Duration::from_secs(120)),
            bisect: true,
            ..AmqpOptions::new(&["slow"])
        },
        nop,
    );

    #[test]
    fn a_batch_that_may_outlive_rabbitmqs_consumer_timeout_warns() {
        // 60 s flush + 120 s x (2 * 7 + 1) runs x 2 batches of 100 in the
        // window of 128 = 61 min.
        let c = config(&[]);
        let o = SLOW.amqp().unwrap();
        let longest = longest_unacked(o, 128, &c).unwrap();
        assert_eq!(longest, Duration::from_secs(60 + 120 * 15 * 2));
        // Known only once connected (the broker's version decides).
        let c = config(&[("WORKER_FLUSH_TIMEOUT", "1")]);
        assert!(
            validate(&[&D], &c).unwrap().len() == 1,
            "only the prefetch warning"
        );
        let no_bisect = AmqpOptions {
            bisect: false,
            ..*o
        };
        assert_eq!(
            longest_unacked(&no_bisect, 128, &c),
            Some(Duration::from_secs(1 + 120 * 2))
        );
        let concurrent = AmqpOptions {
            max_concurrency: 2,
            ..no_bisect
        };
        assert_eq!(
            longest_unacked(&concurrent, 128, &c),
            Some(Duration::from_secs(121))
        );
        assert_eq!(longest_unacked(&AmqpOptions::new(&["q"]), 128, &c), None);
    }

    const fn bound(
        name: &'static str,
        queue: &'static [&'static str],
        kind: ExchangeKind,
    ) -> Route {
        Route::new_amqp(
            name,
            "m",
            AmqpOptions {
                exchange: Some("events"),
                exchange_type: kind,
                bindings: if matches!(kind, ExchangeKind::Fanout) {
                    &[]
                } else {
                    &["a.#"]
                },
                declare: true,
                ..AmqpOptions::new(queue)
            },
            nop,
        )
    }
    static TOPIC: Route = bound("topic", &["t"], ExchangeKind::Topic);
    static FANOUT: Route = bound("fanout", &["f"], ExchangeKind::Fanout);
    static TOPIC2: Route = bound("topic2", &["t2"], ExchangeKind::Topic);

    #[test]
    fn an_exchange_declared_as_two_types_is_an_error() {
        let e = validate(&[&TOPIC, &FANOUT], &config(&[])).unwrap_err();
        assert!(
            e.iter().any(|e| e.contains(
                "exchange `events` on connection `default` is declared as topic by route `topic`"
            ) && e.contains("and as fanout by route `fanout`")),
            "{e:?}"
        );
        let both = validate(&[&TOPIC, &TOPIC2], &config(&[]));
        assert!(both.is_ok(), "{both:?}");
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
