//! Scheduled routes: recurring tasks (`#[route(every, interval = "30s")]`)
//! and cron schedules (`#[route(cron, schedule = "0 */5 * * * *")]`).

mod cron;
mod every;

pub use cron::state_queue;
pub(crate) use cron::{lock_queue, run_cron, CronTask};
pub(crate) use every::run_every;
