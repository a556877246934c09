//! The exchange snippets of docs/routes.md and docs/publishing.md, as
//! written there, compiled and run on the embedded broker (tests/readme.rs
//! checks that every snippet of the documentation is in a compiled file).

use worker::http::{Path, StatusCode};
use worker::testing::TestApp;
use worker::{route, AmqpValue, Error, ExchangeKind, Headers, Message, Properties, Publisher};

// docs/routes.md, "Exchanges and bindings".
#[rustfmt::skip]
// The billing service's queue gets paid orders and every invoice event.
#[route(amqp, queues = ["billing"], exchange = "events", bindings = ["order.paid", "invoice.#"],
        declare = true)]
async fn billing(msgs: Vec<Message<serde_json::Value>>) -> Result<(), worker::Error> {
    for m in &msgs {
        println!("{}: {}", m.routing_key(), m.body());
    }
    Ok(())
}

#[rustfmt::skip]
// PDF reports only, whatever their routing key.
#[route(amqp, queues = ["pdf_reports"], exchange = "documents", exchange_type = headers,
        bindings = ["format=pdf & type=report"], declare = true)]
async fn pdf_reports(msgs: Vec<Message<serde_json::Value>>) {
    println!("{} reports", msgs.len());
}

// docs/publishing.md, "Exchanges".

// The order service: one exchange, each event under its own key.
#[on_startup]
async fn events_exchange(publisher: Publisher) -> Result<(), Error> {
    publisher
        .declare_exchange("events", ExchangeKind::Topic)
        .await
}

#[route(http, method = POST, path = "/orders/{id}/paid")]
async fn paid(Path(id): Path<u64>, publisher: Publisher) -> Result<StatusCode, Error> {
    let event = serde_json::json!({ "id": id });
    publisher.publish("events", "order.paid", &event).await?;
    Ok(StatusCode::ACCEPTED)
}

use worker::on_startup;

#[tokio::test]
async fn a_topic_route_gets_only_the_keys_it_binds() {
    let t = TestApp::builder().route("billing").start().await;
    for key in ["order.paid", "invoice.sent", "invoice.sent.late"] {
        t.publish_to("events", key, &serde_json::json!({ "key": key }))
            .await;
    }
    // No queue is bound to `order.created`: a publish error, not a drop.
    let err = t
        .broker()
        .publish(
            "events",
            "order.created",
            b"{}".to_vec(),
            Properties::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), worker::BrokerErrorKind::Unroutable, "{err}");
    t.wait_idle().await;
    assert_eq!(t.report("billing").acked, 3);
    assert_eq!(
        t.broker().exchange_kind("events"),
        Some(ExchangeKind::Topic)
    );
    let keys: Vec<String> = t
        .broker()
        .bindings("billing")
        .into_iter()
        .map(|b| b.routing_key)
        .collect();
    assert_eq!(
        keys,
        ["invoice.#", "order.paid"],
        "sorted by exchange and key"
    );
    t.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_headers_route_gets_the_messages_whose_headers_match() {
    let t = TestApp::builder().route("pdf_reports").start().await;
    let with = |pairs: &[(&str, &str)]| {
        let headers: Headers = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AmqpValue::from(*v)))
            .collect();
        Properties::default().with_headers(headers)
    };
    let broker = t.broker();
    broker
        .publish(
            "documents",
            "",
            b"{}".to_vec(),
            with(&[("format", "pdf"), ("type", "report")]),
        )
        .unwrap();
    for unmatched in [
        &[("format", "pdf")][..],
        &[("format", "csv"), ("type", "report")],
    ] {
        let err = broker
            .publish("documents", "", b"{}".to_vec(), with(unmatched))
            .unwrap_err();
        assert_eq!(
            err.kind(),
            worker::BrokerErrorKind::Unroutable,
            "{unmatched:?}"
        );
    }
    t.wait_idle().await;
    assert_eq!(t.report("pdf_reports").acked, 1);
    t.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_publishing_service_declares_its_exchange_at_startup() {
    let t = TestApp::builder()
        .route("billing")
        .hooks(true)
        .start()
        .await;
    let publisher = t.app().publisher().unwrap();
    publisher
        .publish("events", "order.paid", &serde_json::json!({ "id": 7 }))
        .await
        .unwrap();
    // Declaring it again as another type is refused.
    let err = publisher
        .declare_exchange("events", ExchangeKind::Fanout)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PRECONDITION_FAILED"), "{err}");
    t.wait_idle().await;
    assert_eq!(t.report("billing").acked, 1);
    t.shutdown().await.unwrap();
}
