//! `topology --format definitions`: the routes' queues as a RabbitMQ
//! definitions file, for `rabbitmqctl import_definitions` (or the
//! management UI's import), reviewed in Git and applied by operators.
//!
//! Each `amqp` route contributes its queues (with the arguments a route
//! with `declare = true` declares them with; plain durable queues for the
//! others, which only check that their queues exist), its dead-letter
//! queue, and one delay queue per retry delay (`<queue>.retry.<ms>ms`,
//! whose messages go back to the queue when their TTL ends). Queues live
//! in the vhost of the route's connection, or its `vhost` option. The
//! queues of `declare_queue!` are there too, as they are declared. A route
//! with an `exchange` adds it (durable, of its `exchange_type`; not the
//! broker's own `amq.*` exchanges, which exist everywhere) and the
//! bindings of each of its queues.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::broker::{AmqpValue, ExchangeKind, Headers, QueueArgument, QueueOptions};
use crate::config::Config;
use crate::registry::{AmqpOptions, QueueDeclaration, Route, RouteKind};
use crate::rules::url::vhost_of;
use crate::settlement::{delay_queue_name, retry_delay, MAX_RETRY_DELAY};

/// One queue of the topology, and who asks for it.
struct Queue {
    options: QueueOptions,
    route: String,
}

/// What asks for queues: each amqp route and each `declare_queue!`, with
/// the vhost of its queues and the queues it needs.
type Needs = Vec<(String, String, Vec<(String, QueueOptions)>)>;

/// The queues `routes` and `declarations` need, by who needs them.
fn needs(
    routes: &[&'static Route],
    declarations: &[&'static QueueDeclaration],
    config: &Config,
) -> Result<Needs, String> {
    let mut out = Needs::new();
    for route in routes {
        let RouteKind::Amqp { options, .. } = &route.kind else {
            continue;
        };
        let vhost = route_vhost(route.name, options, config)?;
        out.push((route.name.to_owned(), vhost, route_queues(options)));
    }
    for d in declarations {
        let name = d.connection_name();
        let url = config.connection_url(Some(name)).ok_or_else(|| {
            format!(
                "`declare_queue!(\"{}\")` uses connection `{name}`, which is not configured: set WORKER_AMQP_{}_URL",
                d.queue,
                name.to_ascii_uppercase()
            )
        })?;
        let by = format!("declare_queue!(\"{}\")", d.queue);
        out.push((
            by,
            vhost_of(url),
            vec![(d.queue.to_owned(), d.queue_options())],
        ));
    }
    Ok(out)
}

/// The definitions document of `routes` and `declarations`, or the reason
/// it cannot be made (a connection that is not configured, two routes that
/// need one queue with different arguments).
pub fn definitions(
    routes: &[&'static Route],
    declarations: &[&'static QueueDeclaration],
    config: &Config,
) -> Result<Value, String> {
    let mut queues: BTreeMap<(String, String), Queue> = BTreeMap::new();
    for (owner, vhost, needed) in needs(routes, declarations, config)? {
        for (name, declared) in needed {
            let key = (vhost.clone(), name);
            match queues.get(&key) {
                Some(q) if q.options != declared => {
                    return Err(format!(
                        "queue `{}` in vhost `{}` is needed with different arguments by routes `{}` ({}) and `{}` ({})",
                        key.1,
                        key.0,
                        q.route,
                        describe(&q.options),
                        owner,
                        describe(&declared)
                    ))
                }
                Some(_) => {}
                None => {
                    queues.insert(
                        key,
                        Queue {
                            options: declared,
                            route: owner.clone(),
                        },
                    );
                }
            }
        }
    }
    let mut vhosts: Vec<&str> = queues.keys().map(|(v, _)| v.as_str()).collect();
    vhosts.dedup();
    let queues: Vec<Value> = queues
        .iter()
        .map(|((vhost, name), q)| {
            json!({
                "name": name,
                "vhost": vhost,
                "durable": q.options.durable,
                "auto_delete": false,
                "arguments": arguments(&q.options),
            })
        })
        .collect();
    let (exchanges, bindings) = exchanges_and_bindings(routes, config)?;
    Ok(json!({
        "vhosts": vhosts.iter().map(|v| json!({ "name": v })).collect::<Vec<_>>(),
        "queues": queues,
        "exchanges": exchanges,
        "bindings": bindings,
    }))
}

/// The routes' exchanges (by vhost and name; two types for one is an
/// error) and their queues' bindings, as definitions.
fn exchanges_and_bindings(
    routes: &[&'static Route],
    config: &Config,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut exchanges: BTreeMap<(String, &str), (ExchangeKind, &str)> = BTreeMap::new();
    let mut bindings = Vec::new();
    for route in routes {
        let RouteKind::Amqp { options, .. } = &route.kind else {
            continue;
        };
        let Some(exchange) = options.exchange else {
            continue;
        };
        let vhost = route_vhost(route.name, options, config)?;
        let kind = options.exchange_type;
        match exchanges.get(&(vhost.clone(), exchange)) {
            Some((other, by)) if *other != kind => {
                return Err(format!(
                    "exchange `{exchange}` in vhost `{vhost}` is {other} for route `{by}` and {kind} for route `{}`",
                    route.name
                ))
            }
            Some(_) => {}
            None => {
                exchanges.insert((vhost.clone(), exchange), (kind, route.name));
            }
        }
        for queue in options.shared_queues() {
            for b in options.queue_bindings() {
                bindings.push(json!({
                    "source": b.exchange,
                    "vhost": vhost,
                    "destination": queue,
                    "destination_type": "queue",
                    "routing_key": b.routing_key,
                    "arguments": headers_json(&b.arguments),
                }));
            }
        }
    }
    let exchanges = exchanges
        .iter()
        .filter(|((_, name), _)| !name.starts_with("amq."))
        .map(|((vhost, name), (kind, _))| {
            json!({
                "name": name,
                "vhost": vhost,
                "type": kind.name(),
                "durable": true,
                "auto_delete": false,
                "internal": false,
                "arguments": {},
            })
        })
        .collect();
    Ok((exchanges, bindings))
}

/// A binding's arguments as JSON (the route syntax gives strings).
pub(crate) fn headers_json(headers: &Headers) -> Map<String, Value> {
    headers
        .iter()
        .map(|(k, v)| {
            let value = match v {
                AmqpValue::Str(s) => Value::from(s.as_str()),
                AmqpValue::Int(i) => Value::from(*i),
                AmqpValue::Bool(b) => Value::from(*b),
                other => Value::from(format!("{other:?}")),
            };
            (k.clone(), value)
        })
        .collect()
}

/// The vhost a route's queues live in.
pub(super) fn route_vhost(
    route: &str,
    options: &AmqpOptions,
    config: &Config,
) -> Result<String, String> {
    if let Some(v) = options.vhost {
        return Ok(v.to_owned());
    }
    let url = config.connection_url(options.connection).ok_or_else(|| {
        let name = options.connection.unwrap_or("default");
        format!(
            "route `{route}` uses connection `{name}`, which is not configured: set WORKER_AMQP_{}_URL",
            name.to_ascii_uppercase()
        )
    })?;
    Ok(vhost_of(url))
}

/// Every queue a route needs, with its declaration.
pub(crate) fn route_queues(options: &AmqpOptions) -> Vec<(String, QueueOptions)> {
    let own = if options.declare {
        options.declared_queue()
    } else {
        QueueOptions::durable()
    };
    let mut out: Vec<(String, QueueOptions)> = options
        .shared_queues()
        .iter()
        .map(|q| (q.to_string(), own.clone()))
        .collect();
    if let Some(dlq) = options.dead_letter {
        out.push((dlq.to_owned(), QueueOptions::durable()));
    }
    if let Some(max) = options.max_retries {
        let backoff = options.retry_backoff_or_default();
        let mut delays = Vec::new();
        for attempt in 1..=max {
            let delay = retry_delay(backoff, attempt);
            if !delays.contains(&delay) {
                delays.push(delay);
            }
            if delay == MAX_RETRY_DELAY {
                break;
            }
        }
        for queue in options.shared_queues() {
            for &delay in &delays {
                out.push((
                    delay_queue_name(queue, delay),
                    crate::settlement::delay_queue_options(delay, queue),
                ));
            }
        }
    }
    out
}

fn arguments(options: &QueueOptions) -> Map<String, Value> {
    options
        .arguments()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                QueueArgument::Str(s) => Value::from(s),
                QueueArgument::Int(i) => Value::from(i),
                QueueArgument::Bool(b) => Value::from(b),
            };
            (name.to_owned(), value)
        })
        .collect()
}

fn describe(options: &QueueOptions) -> String {
    let args = arguments(options);
    if args.is_empty() {
        "no arguments".to_owned()
    } else {
        Value::Object(args).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_route_needs_its_queues_dead_letter_and_delay_queues() {
        let options = AmqpOptions {
            max_retries: Some(40),
            retry_backoff: Some(Duration::from_secs(1)),
            dead_letter: Some("items.dlq"),
            ..AmqpOptions::new(&["items"])
        };
        let queues = route_queues(&options);
        let names: Vec<&str> = queues.iter().map(|(n, _)| n.as_str()).collect();
        // 1 s doubling up to the one-hour cap: 1, 2, 4, ... 2048 s, then 3600 s.
        assert_eq!(names.len(), 2 + 13, "{names:?}");
        assert_eq!(&names[..3], ["items", "items.dlq", "items.retry.1000ms"]);
        assert_eq!(names.last(), Some(&"items.retry.3600000ms"));
        let (_, delay) = &queues[2];
        assert_eq!(
            delay.arguments(),
            [
                ("x-message-ttl", QueueArgument::Int(1000)),
                ("x-dead-letter-exchange", QueueArgument::Str(String::new())),
                (
                    "x-dead-letter-routing-key",
                    QueueArgument::Str("items".into())
                ),
            ]
        );
        assert!(
            queues[0].1.arguments().is_empty(),
            "not declared: plain durable"
        );
    }

    #[test]
    fn declared_routes_carry_their_arguments() {
        let options = AmqpOptions {
            declare: true,
            quorum: true,
            single_active: true,
            ..AmqpOptions::new(&["sole"])
        };
        let args = arguments(&route_queues(&options)[0].1);
        assert_eq!(
            Value::Object(args),
            json!({"x-queue-type": "quorum", "x-single-active-consumer": true})
        );
    }
}
