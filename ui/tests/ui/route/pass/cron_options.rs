use std::time::Duration;

use worker::__private_0_1_0::RouteKind;
use worker::{route, App};

#[route(cron, schedule = "0 */5 * * * *")]
async fn a_defaults() {}

#[route(cron, schedule = "0 30 9 * * MON-FRI", tz = "Europe/Madrid", max_concurrency = 2,
        singleton = true, catch_up = true, connection = "jobs", timeout = "10m")]
async fn b_all_options(_app: App) {}

fn main() {
    let routes = worker::__private_0_1_0::registry::routes();
    let options: Vec<_> = routes
        .iter()
        .map(|r| match r.kind {
            RouteKind::Cron { options: o, .. } => (
                r.name,
                o.schedule,
                o.tz,
                o.max_concurrency,
                o.singleton,
                o.catch_up,
                o.connection,
                o.timeout,
            ),
            _ => panic!("expected cron routes"),
        })
        .collect();
    assert_eq!(
        options,
        [
            ("a_defaults", "0 */5 * * * *", "UTC", 1, false, false, None, None),
            (
                "b_all_options",
                "0 30 9 * * MON-FRI",
                "Europe/Madrid",
                2,
                true,
                true,
                Some("jobs"),
                Some(Duration::from_secs(600))
            ),
        ]
    );
}
