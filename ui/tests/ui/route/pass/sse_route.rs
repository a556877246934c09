use std::time::Duration;

use worker::__private_0_1_0::RouteKind;
use worker::sse::Event;
use worker::{route, App, State};

#[derive(serde::Deserialize)]
struct Price {
    cents: u64,
}

struct Total(std::sync::atomic::AtomicU64);

#[route(sse, url = "http://localhost:9000/events")]
async fn a_defaults(events: Vec<Event>) {
    drop(events);
}

#[route(sse, url = "https://example.com/prices", bulk_size = 10, bulk_flush_interval = "1s",
        events = ["price", "trade"], connection = "prices")]
async fn b_all_options(
    events: Vec<Event<Price>>,
    State(total): State<Total>,
    _app: App,
) -> Result<(), worker::Error> {
    let sum: u64 = events.iter().map(|e| e.data.cents).sum();
    total.0.fetch_add(sum, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

fn main() {
    let routes = worker::__private_0_1_0::registry::routes();
    let records: Vec<_> = routes
        .iter()
        .map(|r| match r.kind {
            RouteKind::Service(service) => {
                assert_eq!(service.backend(), "sse");
                let any: &dyn std::any::Any = service;
                let record = any
                    .downcast_ref::<worker::__private_0_1_0::sse::SseRoute>()
                    .expect("an sse record");
                let _adapter = (record.make)();
                let options = record.options;
                (
                    r.name,
                    options.url,
                    options.bulk_size,
                    options.bulk_flush_interval,
                    options.events,
                    options.connection,
                )
            }
            _ => panic!("expected sse routes"),
        })
        .collect();
    assert_eq!(
        records,
        [
            (
                "a_defaults",
                "http://localhost:9000/events",
                1,
                None,
                &[][..],
                None
            ),
            (
                "b_all_options",
                "https://example.com/prices",
                10,
                Some(Duration::from_secs(1)),
                &["price", "trade"][..],
                Some("prices"),
            ),
        ]
    );
}
