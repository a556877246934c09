use worker::{route, Message};

// Bindings need an exchange.
#[route(amqp, queues = ["a"], bindings = ["order.*"])]
async fn no_exchange(_msgs: Vec<Message>) {}

// `*` is a wildcard of topic exchanges only.
#[route(amqp, queues = ["b"], exchange = "events", exchange_type = direct,
        bindings = ["order.created", "order.*"])]
async fn direct_wildcard(_msgs: Vec<Message>) {}

// A headers binding matches all of its pairs or any of them, not both.
#[route(amqp, queues = ["c"], exchange = "docs", exchange_type = headers,
        bindings = ["format=pdf & type=report | type=invoice"])]
async fn mixed_match(_msgs: Vec<Message>) {}

// A fanout exchange ignores keys.
#[route(amqp, queues = ["d"], exchange = "fan", exchange_type = fanout, bindings = ["x"])]
async fn fanout_keys(_msgs: Vec<Message>) {}

fn main() {}
