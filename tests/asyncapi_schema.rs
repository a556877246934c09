//! With the `schemars` feature, `topology --format asyncapi` describes a
//! route's message with the schema of its type (derived with
//! `schemars::JsonSchema`), and the document still passes the official
//! AsyncAPI parser (`scripts/asyncapi-install` sets it up).

use std::process::Command;

use schemars::JsonSchema;
use serde::Deserialize;
use worker::{route, Message};

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Order {
    id: u64,
    lines: Vec<Line>,
    note: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Line {
    sku: String,
    quantity: u32,
}

#[route(amqp, queues = ["orders"], bulk_size = 10, dead_letter = "orders.dlq")]
async fn orders(_msgs: Vec<Message<Order>>) {}

#[route(amqp, queues = ["anything"])]
async fn anything(_msgs: Vec<Message>) {}

#[test]
fn message_payloads_carry_the_types_schema_and_validate() {
    let config = worker::config::Config::from_vars(
        [("WORKER_AMQP_URL".to_owned(), "amqp://h:5672/%2f".to_owned())],
        &Default::default(),
    )
    .unwrap();
    let program = worker::runtime::Program {
        name: "schema-test",
        version: "1.0.0",
    };
    let doc = worker::runtime::asyncapi(
        &worker::__private_0_1_0::registry::routes(),
        &worker::__private_0_1_0::registry::declarations(),
        &config,
        program,
    );
    let payload = &doc["components"]["messages"]["orders"]["payload"];
    assert_eq!(payload["type"], "object", "{payload:#}");
    assert_eq!(payload["properties"]["id"]["type"], "integer");
    assert_eq!(
        payload["properties"]["lines"]["items"]["properties"]["sku"]["type"],
        "string"
    );
    let required: Vec<&str> = payload["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["id", "lines"]);
    assert!(
        !payload.to_string().contains("$ref"),
        "subschemas are inlined: {payload:#}"
    );
    // serde_json::Value: any JSON (a schema without constraints).
    let any = &doc["components"]["messages"]["anything"]["payload"];
    assert!(
        any.as_object()
            .is_some_and(|o| o.keys().all(|k| k == "title")),
        "{any}"
    );

    let path = std::env::temp_dir().join("worker-asyncapi-schema.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/asyncapi/validate.mjs");
    let out = Command::new("node")
        .args([script, path.to_str().unwrap()])
        .output()
        .expect("node (scripts/asyncapi-install sets up the parser)");
    let _ = std::fs::remove_file(&path);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("valid: AsyncAPI 3.0.0"), "{report}");
}
