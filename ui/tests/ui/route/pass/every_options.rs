use std::time::Duration;

use worker::__private_0_1_0::RouteKind;
use worker::{route, App};

#[route(every, interval = "30s")]
async fn a_defaults() {}

#[route(every, interval = "250ms", max_concurrency = 3, run_on_start = false)]
async fn b_all_options(_app: App) {}

fn main() {
    let routes = worker::__private_0_1_0::registry::routes();
    let options: Vec<_> = routes
        .iter()
        .map(|r| match r.kind {
            RouteKind::Every { options, .. } => (
                r.name,
                options.interval,
                options.max_concurrency,
                options.run_on_start,
            ),
            _ => panic!("expected every routes"),
        })
        .collect();
    assert_eq!(
        options,
        [
            ("a_defaults", Duration::from_secs(30), 1, true),
            ("b_all_options", Duration::from_millis(250), 3, false),
        ]
    );
}
