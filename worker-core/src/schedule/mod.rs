//! Scheduled routes: recurring tasks (`#[route(every, interval = "30s")]`).

mod every;

pub use every::run_every;
