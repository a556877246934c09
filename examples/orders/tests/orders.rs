//! The order service's tests, on the embedded broker: the whole
//! application (its startup hook included) as `TestApp` and `TestServer`
//! start it. `use orders as _;` is not needed here: naming the library
//! (`orders::Order`) links it, and with it its routes.

use orders::{Order, OrderAccepted, ORDERS, ORDER_EVENTS};
use worker::testing::http::TestServer;
use worker::testing::TestApp;

fn order(id: u64, quantity: u32) -> Order {
    Order {
        id,
        item: "widget".to_owned(),
        quantity,
    }
}

#[tokio::test]
async fn valid_orders_are_accepted_and_announced_invalid_ones_dead_lettered() {
    let t = TestApp::builder().route("accept").start().await;
    for o in [order(1, 2), order(2, 0), order(3, 5)] {
        t.publish(ORDERS, &o).await;
    }
    t.wait_idle().await;

    let report = t.report(ORDERS);
    assert_eq!((report.acked, report.dead_lettered), (2, 1), "{report}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let events = t.messages::<OrderAccepted>(ORDER_EVENTS);
    assert_eq!(
        events,
        [
            OrderAccepted { id: 1, quantity: 2 },
            OrderAccepted { id: 3, quantity: 5 }
        ]
    );
    let invalid = t.messages::<Order>("orders.invalid");
    assert_eq!(invalid, [order(2, 0)]);
    let store = t.app().get::<orders::Store>().unwrap();
    assert_eq!(store.get(3), Some(order(3, 5)));
    t.shutdown().await.unwrap();
}

#[tokio::test]
async fn orders_posted_over_http_are_stored_and_served() {
    let s = TestServer::builder()
        .route("accept")
        .route("post_order")
        .route("get_order")
        .start()
        .await;
    let c = reqwest::Client::new();
    let res = c.get(s.url("/orders/7")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": "no order 7", "status": 404 })
    );

    let res = c
        .post(s.url("/orders"))
        .json(&order(7, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    s.wait_idle().await;
    let stored: Order = c
        .get(s.url("/orders/7"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored, order(7, 3));
    assert_eq!(
        s.messages::<OrderAccepted>(ORDER_EVENTS),
        [OrderAccepted { id: 7, quantity: 3 }]
    );
    s.shutdown().await.unwrap();
}
