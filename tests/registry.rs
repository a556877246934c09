//! The macros against the real registry: records land with their options,
//! sorted, and a route's adapter decodes a batch and runs the user's fn.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use worker::__private_0_1_0::{Action, Batch, HookKind, RouteKind};
use worker::{on_shutdown, on_startup, route, App, Delivery, Message, State};

#[derive(serde::Deserialize, Debug)]
struct Item {
    id: u64,
}

struct Counter(AtomicUsize);

static CHECKED_IDS: AtomicUsize = AtomicUsize::new(0);
static CHECK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[route(amqp, queues = ["items", "more_items"], bulk_size = 2014, bulk_flush_interval = "5s",
        on_success = ack, on_exception = reject, max_retries = 3)]
async fn check(
    msgs: Vec<Message<Item>>,
    State(counter): State<Counter>,
) -> Result<(), worker::Error> {
    CHECK_CALLS.fetch_add(1, Ordering::SeqCst);
    for m in &msgs {
        CHECKED_IDS.fetch_add(m.body().id as usize, Ordering::SeqCst);
        counter.0.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

#[route(amqp, queues = ["fails"])]
async fn fails(_msgs: Vec<Message>) -> Result<(), worker::Error> {
    Err("boom".into())
}

static REPORTS: AtomicUsize = AtomicUsize::new(0);

#[route(every, interval = "30s", run_on_start = false)]
async fn report(_app: App) {
    REPORTS.fetch_add(1, Ordering::SeqCst);
}

#[on_startup(order = -1)]
async fn init(app: App) -> Result<(), worker::Error> {
    app.insert(Counter(AtomicUsize::new(0)));
    Ok(())
}

#[on_shutdown]
async fn bye() {}

fn delivery(tag: u64, body: &[u8]) -> Delivery {
    let mut d = Delivery::new(tag, "items".into(), worker::Bytes::copy_from_slice(body));
    d.routing_key = "items".into();
    d
}

#[test]
fn routes_are_registered_sorted_with_their_options() {
    let routes = worker::__private_0_1_0::registry::routes();
    let names: Vec<(&str, &str)> = routes.iter().map(|r| (r.kind.backend(), r.name)).collect();
    assert_eq!(
        names,
        [("amqp", "check"), ("amqp", "fails"), ("every", "report")]
    );

    let check = routes[0];
    assert_eq!(check.module, "registry");
    assert!(
        check.location.file.ends_with("registry.rs"),
        "{}",
        check.location
    );
    assert!(check.location.line > 0);
    let o = check.amqp().expect("amqp");
    assert_eq!(o.queues, ["items", "more_items"]);
    assert_eq!(o.bulk_size, 2014);
    assert_eq!(o.bulk_flush_interval, Some(Duration::from_secs(5)));
    assert_eq!(o.on_success, Action::Ack);
    assert_eq!(o.on_exception, Action::Reject);
    assert_eq!(o.on_decode_error, Action::Reject);
    assert_eq!(o.max_retries, Some(3));
    assert_eq!(
        o.retry_backoff,
        Some(Duration::from_secs(1)),
        "default backoff"
    );

    let fails = routes[1].amqp().expect("amqp");
    assert_eq!(fails.bulk_size, 1);
    assert_eq!(fails.on_exception, Action::Requeue);
    assert_eq!(fails.max_retries, None);
    assert_eq!(fails.retry_backoff, None);

    match routes[2].kind {
        RouteKind::Every { options, .. } => {
            assert_eq!(options.interval, Duration::from_secs(30));
            assert_eq!(options.max_concurrency, 1);
            assert!(!options.run_on_start);
        }
        _ => panic!("expected an every route"),
    }
}

#[test]
fn hooks_are_registered_sorted() {
    let hooks: Vec<(HookKind, i32, &str)> = worker::__private_0_1_0::registry::hooks()
        .iter()
        .map(|h| (h.kind, h.order, h.name))
        .collect();
    assert_eq!(
        hooks,
        [
            (HookKind::Startup, -1, "init"),
            (HookKind::Shutdown, 0, "bye")
        ]
    );
}

#[tokio::test]
async fn adapters_extract_and_call_the_user_fns() {
    let routes = worker::__private_0_1_0::registry::routes();
    let hooks = worker::__private_0_1_0::registry::hooks();
    let app = App::new();

    // Before the startup hook ran, the `State<Counter>` extractor fails.
    let RouteKind::Amqp { handler, .. } = routes[0].kind else {
        panic!("expected amqp")
    };
    let batch = Batch::new("check", vec![delivery(1, br#"{"id":1}"#)]);
    assert!(handler(batch, app.clone()).await.is_err());
    assert_eq!(CHECK_CALLS.load(Ordering::SeqCst), 0);

    (hooks[0].handler)(app.clone()).await.expect("startup hook");
    let batch = Batch::new(
        "check",
        vec![
            delivery(1, br#"{"id":1}"#),
            delivery(2, b"not json"),
            delivery(3, br#"{"id":41}"#),
        ],
    );
    handler(batch, app.clone()).await.expect("handler ok");
    assert_eq!(CHECK_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(CHECKED_IDS.load(Ordering::SeqCst), 42);
    let counter: Arc<Counter> = app.get().expect("state");
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);

    // Nothing decodes: the handler is not called and the batch is Ok.
    let batch = Batch::new("check", vec![delivery(4, b"{")]);
    handler(batch, app.clone()).await.expect("no-op");
    assert_eq!(CHECK_CALLS.load(Ordering::SeqCst), 1);

    // An `Err` from the user's fn comes out of the adapter.
    let RouteKind::Amqp {
        handler: failing, ..
    } = routes[1].kind
    else {
        panic!("expected amqp")
    };
    let err = failing(Batch::new("fails", vec![delivery(5, b"{}")]), app.clone())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "boom");

    let RouteKind::Every { handler: every, .. } = routes[2].kind else {
        panic!("expected every")
    };
    every(app.clone()).await.expect("every");
    every(app.clone()).await.expect("every");
    assert_eq!(REPORTS.load(Ordering::SeqCst), 2);

    (hooks[1].handler)(app).await.expect("shutdown hook");
}
