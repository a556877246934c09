//! `topology --format asyncapi`: an AsyncAPI 3.0 document of the `amqp`
//! routes. A channel per queue (the routes' queues, their dead-letter and
//! retry delay queues) with its AMQP queue binding, and one per binding of
//! a route's exchange (its routing key, with the AMQP `routingKey`
//! binding naming the exchange); a `receive` operation
//! per route, and the `send` operations the runtime itself performs (to a
//! route's dead-letter queue and its delay queues). A message's payload is
//! the schema of the handler's message type when it derives
//! `schemars::JsonSchema` and the `schemars` feature is on, else an open
//! schema.

use serde_json::{json, Map, Value};

use super::topology::{route_queues, route_vhost};
use super::Program;
use crate::config::Config;
use crate::registry::{QueueDeclaration, Route, RouteKind};
use crate::rules::url::{mask_url, vhost_of};

/// AsyncAPI ids (`^[A-Za-z0-9_\-]+$`): every other character becomes `_`.
fn id(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The AMQP server of a connection URL, credentials left out.
fn server(url: &str) -> Option<Value> {
    let first = url.split(',').next()?.trim();
    let (scheme, rest) = first.split_once("://")?;
    if !matches!(scheme, "amqp" | "amqps") {
        return None;
    }
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let vhost = vhost_of(first);
    Some(json!({
        "host": host,
        "protocol": scheme,
        "pathname": format!("/{}", vhost.trim_start_matches('/')),
        "description": format!("RabbitMQ: {}", mask_url(url)),
    }))
}

/// A channel of `queue`, with its AMQP queue binding.
fn channel_of(queue: &str, durable: bool, vhost: &str) -> Value {
    json!({
        "address": queue,
        "messages": {},
        "bindings": {"amqp": {
            "is": "queue",
            "queue": {
                "name": queue,
                "durable": durable,
                "exclusive": false,
                "autoDelete": false,
                "vhost": vhost,
            },
            "bindingVersion": "0.3.0",
        }},
    })
}

/// The channel of a binding of `exchange`: its routing key (the exchange's
/// name for fanout and headers exchanges, which ignore keys) with the AMQP
/// `routingKey` binding, carrying the route's messages to its queues.
fn exchange_channel(
    options: &crate::registry::AmqpOptions,
    binding: &crate::broker::Binding,
    vhost: &str,
    message: &str,
) -> (String, Value) {
    let kind = options.exchange_type;
    let address = if binding.routing_key.is_empty() {
        binding.exchange.clone()
    } else {
        binding.routing_key.clone()
    };
    let mut description = format!(
        "{kind} exchange `{}`, bound to {}",
        binding.exchange,
        options.queues.join(", ")
    );
    if !binding.arguments.is_empty() {
        description.push_str(&format!(
            " matching {}",
            Value::Object(super::topology::headers_json(&binding.arguments))
        ));
    }
    let channel = json!({
        "address": address,
        "description": description,
        "messages": {message: {"$ref": format!("#/components/messages/{message}")}},
        "bindings": {"amqp": {
            "is": "routingKey",
            "exchange": {
                "name": binding.exchange,
                "type": kind.name(),
                "durable": true,
                "autoDelete": false,
                "vhost": vhost,
            },
            "bindingVersion": "0.3.0",
        }},
    });
    (id(&format!("{}.{address}", binding.exchange)), channel)
}

/// The route's `receive` operation on one of its queues (`own`), or the
/// runtime's `send` to one of the route's dead-letter or delay queues.
fn operation(route: &Route, bulk_size: u16, channel: &str, message: &str, own: bool) -> Value {
    json!({
        "action": if own { "receive" } else { "send" },
        "channel": {"$ref": format!("#/channels/{channel}")},
        "messages": [{"$ref": format!("#/channels/{channel}/messages/{message}")}],
        "summary": if own {
            format!("`{}` consumes in batches of {bulk_size}", route.path())
        } else {
            format!("the runtime republishes messages of `{}` here", route.name)
        },
        "bindings": {"amqp": if own {
            json!({"ack": true, "bindingVersion": "0.3.0"})
        } else {
            json!({"deliveryMode": 2, "bindingVersion": "0.3.0"})
        }},
    })
}

/// The channels and `send` operations of the `declare_queue!`s.
fn declared_channels(
    declarations: &[&'static QueueDeclaration],
    config: &Config,
    channels: &mut Map<String, Value>,
    operations: &mut Map<String, Value>,
) {
    for d in declarations {
        let url = config.connection_url(Some(d.connection_name()));
        let vhost = url.map_or_else(|| "/".to_owned(), crate::rules::url::vhost_of);
        let channel = id(d.queue);
        channels
            .entry(channel.clone())
            .or_insert_with(|| channel_of(d.queue, true, &vhost));
        operations.insert(
            format!("send_{channel}"),
            json!({
                "action": "send",
                "channel": {"$ref": format!("#/channels/{channel}")},
                "summary": format!("the application publishes to `{}` (declare_queue! at {})", d.queue, d.location),
                "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
            }),
        );
    }
}

/// The document for `routes` and `declarations` (a `declare_queue!` is a
/// channel the application sends to).
pub fn asyncapi(
    routes: &[&'static Route],
    declarations: &[&'static QueueDeclaration],
    config: &Config,
    program: Program,
) -> Value {
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    let mut servers = Map::new();
    for route in routes {
        let RouteKind::Amqp { options, .. } = &route.kind else {
            continue;
        };
        let connection = options.connection.unwrap_or("default");
        if let Some(s) = config.connection_url(Some(connection)).and_then(server) {
            servers.insert(id(connection), s);
        }
        let message = id(route.name);
        messages.insert(
            message.clone(),
            json!({
                "name": route.name,
                "title": format!("The messages of route `{}`", route.name),
                "contentType": "application/json",
                "payload": options.payload_schema.map_or_else(|| json!({}), |schema| schema()),
            }),
        );
        // The route's vhost, as the definitions file places its queues
        // (`/` when its connection is not configured).
        let vhost = route_vhost(route.name, options, config).unwrap_or_else(|_| "/".into());
        for binding in options.queue_bindings() {
            let (channel, value) = exchange_channel(options, &binding, &vhost, &message);
            channels.entry(channel).or_insert(value);
        }
        for (queue, declaration) in route_queues(options) {
            let channel = id(&queue);
            let entry = channels.entry(channel.clone()).or_insert_with(|| {
                channel_of(&queue, declaration.durable || declaration.quorum, &vhost)
            });
            entry["messages"][&message] =
                json!({"$ref": format!("#/components/messages/{message}")});
            let own = options.queues.contains(&queue.as_str());
            let op = format!(
                "{message}_{}_{channel}",
                if own { "receive" } else { "send" }
            );
            operations.insert(
                op,
                operation(route, options.bulk_size, &channel, &message, own),
            );
        }
    }
    declared_channels(declarations, config, &mut channels, &mut operations);
    let mut doc = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": program.name,
            "version": program.version,
            "description": "The queues this worker consumes and the ones its runtime publishes to (dead-letter and retry delay queues).",
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    });
    if !servers.is_empty() {
        doc["servers"] = Value::Object(servers);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_servers() {
        assert_eq!(id("orders.dlq"), "orders_dlq");
        assert_eq!(
            server("amqp://u:secret@rabbit:5672/%2fprod,amqp://u:secret@r2/%2fprod"),
            Some(json!({
                "host": "rabbit:5672",
                "protocol": "amqp",
                "pathname": "/prod",
                "description": "RabbitMQ: amqp://u:****@rabbit:5672/%2fprod,amqp://u:****@r2/%2fprod",
            }))
        );
        assert_eq!(server("memory://"), None);
    }
}
