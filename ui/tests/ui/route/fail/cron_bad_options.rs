use worker::route;

// Five fields: cron's seconds field comes first here.
#[route(cron, schedule = "*/5 * * * *")]
async fn five_fields() {}

#[route(cron, schedule = "0 61 * * * *")]
async fn minute_out_of_range() {}

#[route(cron, schedule = "0 0 9 * * *", tz = "Europe/Madird")]
async fn unknown_zone() {}

#[route(cron, tz = "UTC")]
async fn no_schedule() {}

#[route(cron, schedule = "0 0 9 * * *", interval = "1h")]
async fn every_option() {}

fn main() {}
