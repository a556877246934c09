//! Starting the routes: each `amqp` route's record and the configuration
//! are resolved once into a [`ConsumerSpec`] and spawned on its
//! connection; each `every` route's task is spawned. (`http` and `sse`
//! routes are started by their services.)

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::connection::ConnectionKey;
use super::validate::effective_prefetch;
use super::Connections;
use crate::app::App;
use crate::backoff::{RECONNECT_BASE, RECONNECT_CAP};
use crate::batch::{BatchHandlerFn, Batching, Broadcast, ConsumerSpec, Reconnect};

use crate::config::Config;
use crate::metrics::{RouteStats, StatsRegistry};
use crate::registry::{AmqpOptions, Route, RouteKind};
use crate::schedule::{run_cron, run_every, CronTask};
use crate::settlement::{Policy, Retries};

/// A started route or service, awaited at shutdown.
pub(super) type Task = (String, JoinHandle<()>);

/// What starting a route needs from the runtime.
pub(super) struct Start<'a> {
    pub config: &'a Config,
    pub connections: &'a Connections,
    pub stats: &'a StatsRegistry,
    pub app: &'a App,
    pub shutdown: &'a CancellationToken,
}

/// Starts every `amqp`, `every` and `cron` route.
pub(super) fn routes(routes: &[&'static Route], ctx: &Start<'_>) -> Vec<Task> {
    for (key, conn) in ctx.connections {
        let url = conn.describe();
        if url.starts_with("memory://") {
            tracing::info!(
                connection = %key,
                url,
                "embedded broker: messages live only in this process and are lost when it exits; set WORKER_AMQP_URL (or WORKER_AMQP_<NAME>_URL) to an amqp:// URL for RabbitMQ"
            );
        }
    }
    let mut tasks = Vec::new();
    for route in routes {
        let stats = ctx.stats.route(route.name, route.kind.backend());
        match route.kind {
            RouteKind::Amqp { options, handler } => {
                let key = ConnectionKey::of(route).expect("an amqp route has a connection");
                let conn = &ctx.connections[&key];
                let spec = consumer_spec(route, &options, handler, ctx, stats);
                tracing::info!(
                    route = route.name,
                    queues = ?options.queues,
                    broker = %conn.describe(),
                    bulk_size = spec.batching.bulk_size,
                    prefetch = spec.prefetch,
                    "starting consumer"
                );
                tasks.push((route.name.to_owned(), conn.spawn_consumer(spec)));
            }
            RouteKind::Every { options, handler } => {
                tracing::info!(route = route.name, interval = ?options.interval, "starting recurring task");
                let task = run_every(
                    route.name,
                    options,
                    handler,
                    ctx.app.clone(),
                    stats,
                    ctx.shutdown.clone(),
                );
                tasks.push((route.name.to_owned(), tokio::spawn(task)));
            }
            RouteKind::Cron { options, handler } => {
                // `prepare` refused a route whose connection cannot coordinate.
                let coordination =
                    ConnectionKey::of(route).and_then(|key| ctx.connections[&key].coordination());
                let lock = coordination
                    .filter(|_| options.singleton)
                    .map(|c| c.lock(crate::schedule::lock_queue(route.name)));
                let state = coordination
                    .filter(|_| options.catch_up)
                    .map(|c| c.record(crate::schedule::state_queue(route.name)));
                tracing::info!(
                    route = route.name,
                    schedule = options.schedule,
                    tz = options.tz,
                    singleton = options.singleton,
                    "starting cron task"
                );
                let task = run_cron(CronTask {
                    name: route.name,
                    options,
                    handler,
                    app: ctx.app.clone(),
                    stats,
                    shutdown: ctx.shutdown.clone(),
                    lock,
                    state,
                });
                tasks.push((route.name.to_owned(), tokio::spawn(task)));
            }
            RouteKind::Service(_) => {}
        }
    }
    tasks
}

/// The route's options with every default resolved: the batch size
/// clamped to the prefetch, the flush deadline, the settlement policy.
fn consumer_spec(
    route: &Route,
    options: &AmqpOptions,
    handler: BatchHandlerFn,
    ctx: &Start<'_>,
    stats: Arc<RouteStats>,
) -> ConsumerSpec {
    let prefetch = effective_prefetch(route, ctx.config);
    stats.prefetch.store(u64::from(prefetch), Ordering::Relaxed);
    ConsumerSpec {
        route: route.name,
        queues: options.queues,
        handler,
        batching: Batching {
            bulk_size: usize::from(options.bulk_size.min(prefetch)),
            bulk_flush_interval: options
                .bulk_flush_interval
                .unwrap_or(ctx.config.bulk_flush_interval),
            max_concurrency: options.max_concurrency as usize,
        },
        prefetch,
        declare: (options.declare || options.broadcast).then(|| options.declared_queue()),
        exchange: options.exchange.map(|e| (e, options.exchange_type)),
        bindings: options.queue_bindings(),
        broadcast: options
            .broadcast
            .then(|| Broadcast::for_queue(options.queues[0], options.declare)),
        policy: Policy {
            on_success: options.on_success,
            on_exception: options.on_exception,
            on_decode_error: options.on_decode_error,
            retries: options.max_retries.map(|max| Retries {
                max,
                backoff: options.retry_backoff_or_default(),
            }),
            dead_letter: options.dead_letter,
        },
        timeout: options.timeout,
        bisect: options.bisect,
        consumer_priority: options.consumer_priority,
        longest_unacked: super::validate::longest_unacked(options, prefetch, ctx.config),
        shutdown_timeout: ctx.config.shutdown_timeout,
        reconnect: Reconnect {
            base: RECONNECT_BASE,
            cap: RECONNECT_CAP,
        },
        app: ctx.app.clone(),
        stats,
        shutdown: ctx.shutdown.clone(),
    }
}

/// Waits for every task up to `limit` after shutdown began; aborts those
/// still running then.
pub(super) async fn stop(tasks: Vec<Task>, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    for (name, mut handle) in tasks {
        match tokio::time::timeout_at(deadline, &mut handle).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(route = %name, error = %e, "task ended abnormally"),
            Err(_) => {
                tracing::warn!(route = %name, "still running after the shutdown timeout; aborted");
                handle.abort();
            }
        }
    }
}
