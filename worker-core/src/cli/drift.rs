//! `check --drift`: each existing queue's type and arguments against what
//! its route declares (the route's own queues with `declare = true`, and
//! the delay queues of retries, which the runtime always declares), one
//! line per difference: `orders: x-queue-type is classic, the route
//! declares quorum`. Then each route's exchange (its type) and its
//! queues' bindings, which must be exactly the route's: `orders: not bound
//! to events "order.*", the route declares it`. RabbitMQ answers through
//! its management API (`WORKER_AMQP_MANAGEMENT_URL`); without it the
//! arguments cannot be compared, and `check` says so.

use std::collections::BTreeMap;

use crate::broker::{Binding, BrokerVersion, Inspected, QueueOptions};
use crate::registry::RouteKind;
use crate::runtime::{ConnectionKey, Connections, Runtime};

/// What the comparison found.
#[derive(Debug, Default)]
pub(super) struct Drift {
    /// `error: ...` and `warning: ...` lines.
    pub lines: Vec<String>,
    /// Whether any queue differs (or could not be read).
    pub failed: bool,
}

/// The differences between `actual` and what `expected` declares, one
/// line each, prefixed with the queue's name.
pub(super) fn differences(
    queue: &str,
    expected: &QueueOptions,
    actual: &Inspected,
    version: Option<BrokerVersion>,
) -> Vec<String> {
    let want = expected.inspected_on(version);
    let mut out = Vec::new();
    if actual.queue_type != want.queue_type {
        out.push(format!(
            "{queue}: x-queue-type is {}, the route declares {}",
            actual.queue_type, want.queue_type
        ));
    }
    let mut names: Vec<&String> = actual
        .arguments
        .keys()
        .chain(want.arguments.keys())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        match (actual.arguments.get(name), want.arguments.get(name)) {
            (Some(a), Some(w)) if a != w => {
                out.push(format!("{queue}: {name} is {a}, the route declares {w}"))
            }
            (None, Some(w)) => out.push(format!(
                "{queue}: {name} is not set, the route declares {w}"
            )),
            (Some(a), None) => out.push(format!(
                "{queue}: {name} is {a}, the route declares no {name}"
            )),
            _ => {}
        }
    }
    out
}

/// The queues to compare on each connection, with their declarations.
fn declared(runtime: &Runtime) -> BTreeMap<ConnectionKey, BTreeMap<String, QueueOptions>> {
    let mut out: BTreeMap<ConnectionKey, BTreeMap<String, QueueOptions>> = BTreeMap::new();
    for route in runtime.routes() {
        let (RouteKind::Amqp { options, .. }, Some(key)) = (&route.kind, ConnectionKey::of(route))
        else {
            continue;
        };
        let queues = out.entry(key).or_default();
        for (name, declaration) in super::topology::route_queues(options) {
            let own = options.queues.contains(&name.as_str());
            let dead_letter = options.dead_letter == Some(name.as_str());
            // A route checks the queues it does not declare, and the
            // dead-letter queue is only declared when missing.
            if dead_letter || (own && !options.declare) {
                continue;
            }
            queues.entry(name).or_insert(declaration);
        }
    }
    for d in runtime.declarations() {
        out.entry(ConnectionKey::named(d.connection_name()))
            .or_default()
            .entry(d.queue.to_owned())
            .or_insert_with(|| d.queue_options());
    }
    out
}

/// Compares every declared queue that exists.
pub(super) async fn check(runtime: &Runtime, connections: &Connections) -> Drift {
    let mut drift = Drift::default();
    for (key, queues) in declared(runtime) {
        let conn = &connections[&key];
        let (mut compared, mut missing) = (0, 0);
        for (queue, declaration) in &queues {
            match conn.inspect_queue(queue).await {
                Ok(Some(actual)) => {
                    compared += 1;
                    for line in differences(queue, declaration, &actual, conn.version()) {
                        drift.failed = true;
                        drift
                            .lines
                            .push(format!("error: drift on connection `{key}`: {line}"));
                    }
                }
                Ok(None) => missing += 1,
                Err(reason) => {
                    drift.lines.push(format!(
                        "warning: connection `{key}`: queue arguments could not be compared: {reason}"
                    ));
                    compared = 0;
                    missing = 0;
                    break;
                }
            }
        }
        if compared + missing > 0 && !drift.failed {
            drift.lines.push(format!(
                "ok: connection `{key}`: {compared} queues as their routes declare them ({missing} not created yet; their routes declare them at startup)"
            ));
        }
    }
    check_bindings(runtime, connections, &mut drift).await;
    drift
}

/// Each route's exchange (its type) and its queues' bindings: a queue's
/// bindings are exactly the route's.
async fn check_bindings(runtime: &Runtime, connections: &Connections, drift: &mut Drift) {
    for route in runtime.routes() {
        let (RouteKind::Amqp { options, .. }, Some(key)) = (&route.kind, ConnectionKey::of(route))
        else {
            continue;
        };
        let Some(exchange) = options.exchange else {
            continue;
        };
        let conn = &connections[&key];
        let mut lines = Vec::new();
        match conn.inspect_exchange(exchange).await {
            Ok(Some(kind)) if kind != options.exchange_type.name() => lines.push(format!(
                "exchange `{exchange}` is {kind}, route `{}` declares {}",
                route.name, options.exchange_type
            )),
            Ok(Some(_)) => {}
            Ok(None) if options.declare => continue,
            Ok(None) => lines.push(format!(
                "exchange `{exchange}` of route `{}` does not exist (the route checks it: add `declare = true`, or create it)",
                route.name
            )),
            Err(reason) => {
                drift.lines.push(format!(
                    "warning: connection `{key}`: the bindings of route `{}` could not be compared: {reason}",
                    route.name
                ));
                continue;
            }
        }
        let wanted = options.queue_bindings();
        for queue in options.shared_queues() {
            if let Ok(None) = conn.inspect_queue(queue).await {
                continue; // not created yet: `check` reports a missing queue
            }
            match conn.inspect_bindings(queue).await {
                Ok(actual) => lines.extend(binding_differences(queue, &wanted, &actual)),
                Err(reason) => lines.push(format!("{queue}: bindings could not be read: {reason}")),
            }
        }
        if lines.is_empty() {
            drift.lines.push(format!(
                "ok: connection `{key}`: the queues of route `{}` are bound as it declares ({} bindings each to `{exchange}`)",
                route.name,
                wanted.len()
            ));
        }
        for line in lines {
            drift.failed = true;
            drift
                .lines
                .push(format!("error: drift on connection `{key}`: {line}"));
        }
    }
}

/// A line per binding the route declares and the queue lacks, and per
/// binding the queue has and the route does not declare.
pub(super) fn binding_differences(
    queue: &str,
    wanted: &[Binding],
    actual: &[Binding],
) -> Vec<String> {
    let mut out = Vec::new();
    for w in wanted.iter().filter(|w| !actual.contains(w)) {
        out.push(format!("{queue}: not bound to {w}, the route declares it"));
    }
    for a in actual.iter().filter(|a| !wanted.contains(a)) {
        out.push(format!(
            "{queue}: bound to {a}, which the route does not declare"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::QueueArgument;

    fn queue(queue_type: &str, args: &[(&str, QueueArgument)]) -> Inspected {
        Inspected {
            queue_type: queue_type.to_owned(),
            arguments: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn every_differing_argument_is_named() {
        let declared = QueueOptions {
            durable: true,
            quorum: true,
            delivery_limit: Some(crate::broker::DeliveryLimit::Limited(3)),
            ..Default::default()
        };
        let lines = differences(
            "orders",
            &declared,
            &queue("classic", &[("x-max-length", QueueArgument::Int(1000))]),
            None,
        );
        assert_eq!(
            lines,
            [
                "orders: x-queue-type is classic, the route declares quorum",
                "orders: x-delivery-limit is not set, the route declares 3",
                "orders: x-max-length is 1000, the route declares no x-max-length",
            ]
        );
        let same = queue("quorum", &[("x-delivery-limit", QueueArgument::Int(3))]);
        assert!(differences("orders", &declared, &same, None).is_empty());
        let other = queue("quorum", &[("x-delivery-limit", QueueArgument::Int(5))]);
        assert_eq!(
            differences("orders", &declared, &other, None),
            ["orders: x-delivery-limit is 5, the route declares 3"]
        );
    }

    #[test]
    fn bindings_are_compared_both_ways() {
        let wanted = [
            Binding::new("events", "order.*"),
            Binding::new("events", "invoice.#"),
        ];
        let actual = [
            Binding::new("events", "order.*"),
            Binding::new("events", "order.#"),
        ];
        assert_eq!(
            binding_differences("orders", &wanted, &actual),
            [
                "orders: not bound to events \"invoice.#\", the route declares it",
                "orders: bound to events \"order.#\", which the route does not declare",
            ]
        );
        assert!(binding_differences("orders", &wanted, &wanted).is_empty());
    }

    #[test]
    fn unlimited_is_no_argument_before_4_0() {
        let declared = QueueOptions {
            durable: true,
            quorum: true,
            delivery_limit: Some(crate::broker::DeliveryLimit::Unlimited),
            ..Default::default()
        };
        let bare = queue("quorum", &[]);
        let v310 = BrokerVersion::parse("3.10.8");
        let v43 = BrokerVersion::parse("4.3.6");
        assert!(differences("orders", &declared, &bare, v310).is_empty());
        assert_eq!(
            differences("orders", &declared, &bare, v43),
            ["orders: x-delivery-limit is not set, the route declares -1"]
        );
        let minus_one = queue("quorum", &[("x-delivery-limit", QueueArgument::Int(-1))]);
        assert!(differences("orders", &declared, &minus_one, v43).is_empty());
    }
}
