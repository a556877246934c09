//! Defaults of route options and configuration, where the macros, the
//! builder API and the runtime all read them.

use std::time::Duration;

/// Messages per batch.
pub const BULK_SIZE: u16 = 1;
/// Batches (or runs) in flight at once.
pub const MAX_CONCURRENCY: u32 = 1;
/// Delay of the first retry when `max_retries` is set without
/// `retry_backoff`; doubled for each further attempt.
pub const RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// Unacked messages per consumer (`WORKER_AMQP_PREFETCH`).
pub const PREFETCH: u16 = 128;
/// Flush deadline of partial batches (`WORKER_FLUSH_TIMEOUT`).
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);
/// Time given to in-flight work at shutdown (`WORKER_SHUTDOWN_TIMEOUT`).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long startup (queue declarations, startup hooks) waits for a broker
/// that does not answer yet (`WORKER_STARTUP_TIMEOUT`): long enough for a
/// broker started beside the worker (a RabbitMQ node takes 5 to 15 s), short
/// enough that a wrong URL fails a deployment within a minute.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// `WORKER_AMQP_HEARTBEAT`, in seconds: a peer that falls silent (a cut
/// link, a partition: no FIN, no RST) is noticed after about twice this,
/// where RabbitMQ's own 60 s would take two minutes and more.
pub const AMQP_HEARTBEAT: u16 = 10;
/// Broker URL (`WORKER_AMQP_URL`).
pub const AMQP_URL: &str = "amqp://guest:guest@localhost:5672/%2f";
/// HTTP listen address (`WORKER_HTTP_ADDR`).
pub const HTTP_ADDR: &str = "127.0.0.1:8080";
/// Path of the Prometheus endpoint (`WORKER_METRICS_PATH`).
pub const METRICS_PATH: &str = "/metrics";
/// Time a client has to send an HTTP request head
/// (`WORKER_HTTP_HEADER_TIMEOUT`): above the 60 s idle timeout of common
/// load balancers, since it also closes keep-alive connections idle that
/// long.
pub const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(75);
/// The time zone of a `cron` route without `tz`.
pub const CRON_TZ: &str = "UTC";
/// Whether an `every` route runs once at startup.
pub const RUN_ON_START: bool = true;
