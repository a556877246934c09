//! The collector of the runtime's metrics: reads the `StatsRegistry`, the
//! connections, the HTTP counters and `/proc/self` at scrape time, so
//! nothing on the message or request path knows about Prometheus.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use worker_core::backend::metrics::{
    HistogramSnapshot, OutcomeCounts, RouteStats, SkipReason, StreamError,
};
use worker_core::backend::runtime::{Connection, ConnectionKey};

use super::http::HttpMetrics;
use super::process;

/// What one server exposes besides the users' own metrics.
pub(crate) struct RuntimeCollector {
    /// Non-http routes' stats, sorted by name.
    pub routes: Vec<Arc<RouteStats>>,
    /// Connections used by amqp routes.
    pub connections: Vec<(ConnectionKey, Arc<dyn Connection>)>,
    pub http: Arc<HttpMetrics>,
}

impl fmt::Debug for RuntimeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeCollector")
            .field("routes", &self.routes.len())
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

fn counters<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: &[(L, u64)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in series {
        m.encode_family(labels)?
            .encode_counter::<NoLabelSet, u64, u64>(v, None)?;
    }
    Ok(())
}

fn gauges<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: &[(L, i64)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in series {
        m.encode_family(labels)?.encode_gauge(v)?;
    }
    Ok(())
}

fn histograms<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: &[(L, HistogramSnapshot)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in series {
        // The encoder accumulates: hand it per-bucket counts.
        let mut previous = 0;
        let buckets: Vec<(f64, u64)> = h
            .buckets
            .iter()
            .map(|&(bound, cumulative)| {
                let n = cumulative - previous;
                previous = cumulative;
                (bound, n)
            })
            .collect();
        m.encode_family(labels)?
            .encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)?;
    }
    Ok(())
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn load(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let consumers: Vec<&RouteStats> = self
            .routes
            .iter()
            .map(|s| &**s)
            .filter(|s| s.backend == "amqp" || s.backend == "sse")
            .collect();
        let tasks: Vec<&RouteStats> = self
            .routes
            .iter()
            .map(|s| &**s)
            .filter(|s| s.backend == "every" || s.backend == "cron")
            .collect();
        let all: Vec<&RouteStats> = self.routes.iter().map(|s| &**s).collect();
        messages(&mut enc, &consumers)?;
        batches(&mut enc, &consumers)?;
        handlers(&mut enc, &all)?;
        consumer_state(&mut enc, &consumers)?;
        sse_streams(&mut enc, &consumers)?;
        connections(&mut enc, &self.connections)?;
        task_runs(&mut enc, &tasks)?;
        http_requests(&mut enc, &self.http)?;
        embedded_queues(&mut enc)?;
        process_metrics(&mut enc)
    }
}

/// `(route, value)` series of one number per route.
fn per_route<'a, T>(
    routes: &[&'a RouteStats],
    f: impl Fn(&RouteStats) -> T,
) -> Vec<(Labels<'a, 1>, T)> {
    routes
        .iter()
        .map(|s| ([("route", s.route.as_str())], f(s)))
        .collect()
}

/// `worker_messages` by final action, and `worker_decode_failures`, per
/// route and queue (sse routes count decode failures under their URL).
fn messages(enc: &mut DescriptorEncoder<'_>, consumers: &[&RouteStats]) -> fmt::Result {
    let queues: Vec<(&str, String, OutcomeCounts)> = consumers
        .iter()
        .flat_map(|s| {
            s.queues()
                .into_iter()
                .map(move |(q, c)| (s.route.as_str(), q, c))
        })
        .collect();
    let mut settled = Vec::with_capacity(queues.len() * 5);
    for (r, q, c) in &queues {
        for (action, n) in [
            ("acked", c.acked),
            ("requeued", c.requeued),
            ("rejected", c.rejected),
            ("retried", c.retried),
            ("dead_lettered", c.dead_lettered),
            ("dropped", c.dropped),
        ] {
            let labels: Labels<'_, 3> = [("route", r), ("queue", q), ("action", action)];
            settled.push((labels, n));
        }
    }
    counters(
        enc,
        "worker_messages",
        "Messages settled, by final action (acked, requeued, rejected, retried, dead_lettered, dropped)",
        &settled,
    )?;
    let decode: Vec<(Labels<'_, 2>, u64)> = queues
        .iter()
        .map(|(r, q, c)| ([("route", *r), ("queue", q.as_str())], c.decode_failures))
        .collect();
    counters(
        enc,
        "worker_decode_failures",
        "Messages or events whose body did not decode",
        &decode,
    )
}

/// `worker_batches` by flush reason.
fn batches(enc: &mut DescriptorEncoder<'_>, consumers: &[&RouteStats]) -> fmt::Result {
    let mut series = Vec::new();
    for s in consumers {
        for (reason, c) in [
            ("size", &s.flush_size),
            ("deadline", &s.flush_deadline),
            ("shutdown", &s.flush_shutdown),
        ] {
            let labels: Labels<'_, 2> = [("route", &s.route), ("reason", reason)];
            series.push((labels, load(c)));
        }
    }
    counters(
        enc,
        "worker_batches",
        "Batches handed to handlers, by flush reason (size, deadline, shutdown)",
        &series,
    )
}

/// Handler durations, errors and readiness of every route.
fn handlers(enc: &mut DescriptorEncoder<'_>, all: &[&RouteStats]) -> fmt::Result {
    let durations: Vec<(Labels<'_, 1>, HistogramSnapshot)> = all
        .iter()
        .map(|s| ([("route", s.route.as_str())], s.handler_duration.snapshot()))
        .collect();
    histograms(
        enc,
        "worker_handler_duration_seconds",
        "Duration of handler calls (batches, events, task runs)",
        &durations,
    )?;
    let delays: Vec<(Labels<'_, 1>, HistogramSnapshot)> = all
        .iter()
        .filter(|s| s.flush_delay.count() > 0)
        .map(|s| ([("route", s.route.as_str())], s.flush_delay.snapshot()))
        .collect();
    histograms(
        enc,
        "worker_batch_flush_delay_seconds",
        "How late after its flush deadline a partial batch reached its handler",
        &delays,
    )?;
    let mut errors = Vec::new();
    for s in all {
        errors.push((
            [("route", s.route.as_str()), ("kind", "error")],
            load(&s.errors),
        ));
        errors.push((
            [("route", s.route.as_str()), ("kind", "panic")],
            load(&s.panics),
        ));
    }
    counters(
        enc,
        "worker_handler_errors",
        "Handler calls that failed, by kind (error, panic)",
        &errors,
    )?;
    gauges(
        enc,
        "worker_route_ready",
        "1 while the route's consumer is registered (or its task scheduled)",
        &per_route(all, |s| i64::from(s.is_ready())),
    )?;
    gauges(
        enc,
        "worker_route_standby",
        "1 while the route's consumer stands by on a single-active-consumer queue",
        &per_route(all, |s| i64::from(s.is_standby())),
    )
}

/// Reconnects, in-flight batches, buffered messages and prefetch of the
/// consumers.
fn consumer_state(enc: &mut DescriptorEncoder<'_>, consumers: &[&RouteStats]) -> fmt::Result {
    counters(
        enc,
        "worker_batches_bisected",
        "Failed batches re-run in halves to find the failing messages (`bisect = true`)",
        &per_route(consumers, |s| load(&s.bisected)),
    )?;
    counters(
        enc,
        "worker_bisect_handler_calls",
        "Handler calls spent on bisection (every run of a batch after its first)",
        &per_route(consumers, |s| load(&s.bisect_calls)),
    )?;
    counters(
        enc,
        "worker_consumer_reconnects",
        "Consumer reconnections after a failure",
        &per_route(consumers, |s| load(&s.reconnects)),
    )?;
    counters(
        enc,
        "worker_consumer_cancelled",
        "Consumers cancelled by the broker (queue deleted, leader moved, consumer timeout); each resubscribes",
        &per_route(consumers, |s| load(&s.cancelled)),
    )?;
    gauges(
        enc,
        "worker_consumer_in_flight_batches",
        "Batches being handled now",
        &per_route(consumers, |s| gauge(s.in_flight.load(Ordering::Relaxed))),
    )?;
    gauges(
        enc,
        "worker_consumer_buffered_messages",
        "Messages received and not yet handed to a handler",
        &per_route(consumers, |s| gauge(s.buffered.load(Ordering::Relaxed))),
    )?;
    let amqp: Vec<&RouteStats> = consumers
        .iter()
        .copied()
        .filter(|s| s.backend == "amqp")
        .collect();
    gauges(
        enc,
        "worker_consumer_prefetch",
        "Effective prefetch window of the route's channel",
        &per_route(&amqp, |s| gauge(load(&s.prefetch))),
    )
}

/// SSE connections dropped by the consumer, by reason.
fn sse_streams(enc: &mut DescriptorEncoder<'_>, consumers: &[&RouteStats]) -> fmt::Result {
    let mut dropped = Vec::new();
    for s in consumers.iter().filter(|s| s.backend == "sse") {
        for reason in StreamError::ALL {
            let labels: Labels<'_, 2> = [("route", s.route.as_str()), ("reason", reason.label())];
            dropped.push((labels, s.stream_errors(reason)));
        }
    }
    counters(
        enc,
        "worker_sse_stream_errors",
        "SSE connections the consumer dropped, by reason (line_too_long, event_too_large, idle_timeout, redirect_refused); each reconnects with backoff",
        &dropped,
    )
}

/// The queues of the embedded broker (every `memory://` broker of the
/// process): ready and unacked messages. RabbitMQ's queues are measured by
/// RabbitMQ's own metrics.
fn embedded_queues(enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let depths = worker_core::backend::memory::MemoryBroker::shared_depths();
    let mut series = Vec::with_capacity(depths.len() * 2);
    for (broker, queue, ready, unacked) in &depths {
        for (state, n) in [("ready", *ready), ("unacked", *unacked)] {
            let labels: Labels<'_, 3> = [
                ("broker", broker.as_str()),
                ("queue", queue.as_str()),
                ("state", state),
            ];
            series.push((labels, gauge(n)));
        }
    }
    gauges(
        enc,
        "worker_embedded_queue_messages",
        "Messages in the embedded broker's queues, by broker URL, queue and state (ready, unacked)",
        &series,
    )
}

/// `worker_connection_up` per connection.
fn connections(
    enc: &mut DescriptorEncoder<'_>,
    connections: &[(ConnectionKey, Arc<dyn Connection>)],
) -> fmt::Result {
    let names: Vec<String> = connections.iter().map(|(k, _)| k.to_string()).collect();
    let up: Vec<(Labels<'_, 1>, i64)> = connections
        .iter()
        .zip(&names)
        .map(|((_, c), k)| ([("connection", k.as_str())], i64::from(c.is_connected())))
        .collect();
    gauges(
        enc,
        "worker_connection_up",
        "1 while the broker connection is up",
        &up,
    )
}

/// Runs and skipped ticks of recurring tasks.
fn task_runs(enc: &mut DescriptorEncoder<'_>, tasks: &[&RouteStats]) -> fmt::Result {
    counters(
        enc,
        "worker_task_runs",
        "Finished runs of recurring tasks",
        &per_route(tasks, |s| load(&s.runs)),
    )?;
    counters(
        enc,
        "worker_task_skipped",
        "Ticks skipped because the task's previous runs were still going",
        &per_route(tasks, |s| load(&s.skipped)),
    )?;
    let mut skipped = Vec::new();
    for s in tasks.iter().filter(|s| s.backend == "cron") {
        for reason in SkipReason::ALL {
            let labels: Labels<'_, 2> = [("route", s.route.as_str()), ("reason", reason.label())];
            skipped.push((labels, s.slots_skipped(reason)));
        }
    }
    counters(
        enc,
        "worker_cron_slots_skipped",
        "Cron slots that did not run, by reason (lock_held_elsewhere, broker_unreachable, busy)",
        &skipped,
    )
}

/// HTTP requests by method, route template and status, and their durations.
fn http_requests(enc: &mut DescriptorEncoder<'_>, http: &HttpMetrics) -> fmt::Result {
    let paths = http.all();
    let counts: Vec<Vec<(&'static str, u16, u64)>> = paths.iter().map(|p| p.counts()).collect();
    let statuses: Vec<Vec<String>> = counts
        .iter()
        .map(|c| c.iter().map(|(_, status, _)| status.to_string()).collect())
        .collect();
    let mut requests = Vec::new();
    let mut durations = Vec::new();
    for ((p, c), st) in paths.iter().zip(&counts).zip(&statuses) {
        for (&(method, _, n), status) in c.iter().zip(st) {
            let labels: Labels<'_, 3> = [
                ("method", method),
                ("route", p.route()),
                ("status", status.as_str()),
            ];
            requests.push((labels, n));
        }
        for (method, h) in p.durations() {
            let labels: Labels<'_, 2> = [("method", method), ("route", p.route())];
            durations.push((labels, h));
        }
    }
    counters(
        enc,
        "worker_http_requests",
        "HTTP requests, by method, route template (or `unmatched`) and status",
        &requests,
    )?;
    histograms(
        enc,
        "worker_http_request_duration_seconds",
        "Duration of HTTP requests, by method and route template",
        &durations,
    )?;
    let refusals = http.refusals();
    let refused: Vec<(Labels<'_, 1>, u64)> = refusals
        .counts()
        .into_iter()
        .map(|(reason, n)| ([("reason", reason)], n))
        .collect();
    counters(
        enc,
        "worker_http_refused",
        "Connections and requests the HTTP server's limits turned away, by reason (max_connections, max_concurrency, request_timeout, body_timeout)",
        &refused,
    )
}

/// CPU time and resident memory of the process.
fn process_metrics(enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let Some(p) = process::sample() else {
        return Ok(());
    };
    let mut m = enc.encode_descriptor(
        "process_cpu_seconds",
        "User and system CPU time of the process",
        None,
        MetricType::Counter,
    )?;
    m.encode_counter::<NoLabelSet, f64, f64>(&p.cpu_seconds, None)?;
    let mut m = enc.encode_descriptor(
        "process_resident_memory_bytes",
        "Resident memory of the process",
        None,
        MetricType::Gauge,
    )?;
    m.encode_gauge(&(p.resident_bytes as i64))
}
