use worker::{route, App, Message, Publisher, State};

#[derive(serde::Deserialize)]
struct Item {
    _id: u64,
}

struct Db;

#[route(amqp, queues = ["items"])]
async fn all_extractors(
    mut msgs: Vec<Message<Item>>,
    _app: App,
    State(_db): State<Db>,
    _db_again: State<Db>,
    _publisher: Publisher,
) {
    msgs.clear();
}

#[route(amqp, queues = ["raw"])]
async fn raw_json(msgs: Vec<Message<serde_json::Value>>) {
    let _ = msgs;
}

#[route(every, interval = "1m")]
async fn every_extractors(State(_db): State<Db>, _publisher: Publisher, app: App) {
    let _ = app;
}

#[route(every, interval = "1m")]
async fn no_arguments() {}

fn main() {
    let names: Vec<&str> = worker::__private_0_1_0::registry::routes().iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "all_extractors",
            "raw_json",
            "every_extractors",
            "no_arguments"
        ]
    );
}
