//! Scheduled routes: recurring tasks (`#[route(every, interval = "30s")]`)
//! and cron schedules (`#[route(cron, schedule = "0 */5 * * * *")]`).

mod cron;
mod every;

pub use cron::{lock_queue, run_cron, run_cron_from, state_queue, CronTask, LOCK_PROBE};
pub use every::run_every;
