use worker::__private_0_1_0::RouteKind;
use worker::{route, Binding, ExchangeKind, Message};

#[route(amqp, queues = ["reports"], exchange = "docs", exchange_type = headers,
        bindings = ["format=pdf & type=report", "urgent=yes | priority=high"], declare = true)]
async fn reports(_msgs: Vec<Message>) {}

fn main() {
    let routes = worker::__private_0_1_0::registry::routes();
    let RouteKind::Amqp { options: o, .. } = routes[0].kind else {
        panic!("expected an amqp route")
    };
    assert_eq!(o.exchange, Some("docs"));
    assert_eq!(o.exchange_type, ExchangeKind::Headers);
    assert_eq!(o.bindings, ["format=pdf & type=report", "urgent=yes | priority=high"]);
    let bindings: Vec<Binding> = o.queue_bindings();
    assert_eq!(bindings.len(), 2);
    assert_eq!(bindings[0].arguments["x-match"].as_str(), Some("all"));
    assert_eq!(bindings[1].arguments["x-match"].as_str(), Some("any"));
    assert_eq!(bindings[1].arguments["priority"].as_str(), Some("high"));
    assert!(o.problems().is_empty());
}
