//! The collector of the runtime's metrics: reads the `StatsRegistry`, the
//! connections, the HTTP counters and `/proc/self` at scrape time, so
//! nothing on the message or request path knows about Prometheus.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use worker_core::connection::Connection;
use worker_core::metrics::HistogramSnapshot;
use worker_core::stats::RouteStats;

use super::http::HttpMetrics;
use super::process;

/// What one server exposes besides the users' own metrics.
pub(crate) struct RuntimeCollector {
    /// Non-http routes' stats, sorted by name.
    pub routes: Vec<Arc<RouteStats>>,
    /// Connections used by amqp routes.
    pub connections: Vec<(String, Arc<dyn Connection>)>,
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
    enc: &mut DescriptorEncoder,
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
    enc: &mut DescriptorEncoder,
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
    enc: &mut DescriptorEncoder,
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

fn as_gauge<L>(v: Vec<(L, u64)>) -> Vec<(L, i64)> {
    v.into_iter()
        .map(|(l, n)| (l, i64::try_from(n).unwrap_or(i64::MAX)))
        .collect()
}

fn load(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
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
            .filter(|s| s.backend == "every")
            .collect();
        let route = |s: &RouteStats| s.route.clone();

        // Per-queue outcomes (amqp; sse routes count decode failures under
        // their URL).
        let queues: Vec<(String, String, worker_core::stats::OutcomeCounts)> = consumers
            .iter()
            .flat_map(|s| {
                s.queues()
                    .into_iter()
                    .map(move |(q, c)| (s.route.clone(), q, c))
            })
            .collect();
        let mut messages = Vec::with_capacity(queues.len() * 5);
        for (r, q, c) in &queues {
            for (action, n) in [
                ("acked", c.acked),
                ("requeued", c.requeued),
                ("rejected", c.rejected),
                ("retried", c.retried),
                ("dead_lettered", c.dead_lettered),
            ] {
                let labels: Labels<3> = [("route", r), ("queue", q), ("action", action)];
                messages.push((labels, n));
            }
        }
        counters(
            &mut enc,
            "worker_messages",
            "Messages settled, by final action (acked, requeued, rejected, retried, dead_lettered)",
            &messages,
        )?;
        let decode: Vec<(Labels<2>, u64)> = queues
            .iter()
            .map(|(r, q, c)| {
                (
                    [("route", r.as_str()), ("queue", q.as_str())],
                    c.decode_failures,
                )
            })
            .collect();
        counters(
            &mut enc,
            "worker_decode_failures",
            "Messages or events whose body did not decode",
            &decode,
        )?;

        let names: Vec<String> = consumers.iter().map(|s| route(s)).collect();
        let mut batches = Vec::new();
        for (s, r) in consumers.iter().zip(&names) {
            for (reason, c) in [
                ("size", &s.flush_size),
                ("deadline", &s.flush_deadline),
                ("shutdown", &s.flush_shutdown),
            ] {
                let labels: Labels<2> = [("route", r), ("reason", reason)];
                batches.push((labels, load(c)));
            }
        }
        counters(
            &mut enc,
            "worker_batches",
            "Batches handed to handlers, by flush reason (size, deadline, shutdown)",
            &batches,
        )?;

        let all: Vec<(&RouteStats, String)> =
            self.routes.iter().map(|s| (&**s, route(s))).collect();
        let durations: Vec<(Labels<1>, HistogramSnapshot)> = all
            .iter()
            .map(|(s, r)| ([("route", r.as_str())], s.handler_duration.snapshot()))
            .collect();
        histograms(
            &mut enc,
            "worker_handler_duration_seconds",
            "Duration of handler calls (batches, events, task runs)",
            &durations,
        )?;
        let mut errors = Vec::new();
        for (s, r) in &all {
            errors.push(([("route", r.as_str()), ("kind", "error")], load(&s.errors)));
            errors.push(([("route", r.as_str()), ("kind", "panic")], load(&s.panics)));
        }
        counters(
            &mut enc,
            "worker_handler_errors",
            "Handler calls that failed, by kind (error, panic)",
            &errors,
        )?;
        let ready: Vec<(Labels<1>, i64)> = all
            .iter()
            .map(|(s, r)| ([("route", r.as_str())], i64::from(s.is_ready())))
            .collect();
        gauges(
            &mut enc,
            "worker_route_ready",
            "1 while the route's consumer is registered (or its task scheduled)",
            &ready,
        )?;

        let per_consumer = |f: &dyn Fn(&RouteStats) -> u64| -> Vec<(Labels<1>, u64)> {
            consumers
                .iter()
                .zip(&names)
                .map(|(s, r)| ([("route", r.as_str())], f(s)))
                .collect()
        };
        counters(
            &mut enc,
            "worker_consumer_reconnects",
            "Consumer reconnections after a failure",
            &per_consumer(&|s| load(&s.reconnects)),
        )?;
        gauges(
            &mut enc,
            "worker_consumer_in_flight_batches",
            "Batches being handled now",
            &as_gauge(per_consumer(&|s| {
                s.in_flight.load(Ordering::Relaxed) as u64
            })),
        )?;
        gauges(
            &mut enc,
            "worker_consumer_buffered_messages",
            "Messages received and not yet handed to a handler",
            &as_gauge(per_consumer(&|s| s.buffered.load(Ordering::Relaxed) as u64)),
        )?;
        let prefetch: Vec<(Labels<1>, i64)> = consumers
            .iter()
            .zip(&names)
            .filter(|(s, _)| s.backend == "amqp")
            .map(|(s, r)| ([("route", r.as_str())], load(&s.prefetch) as i64))
            .collect();
        gauges(
            &mut enc,
            "worker_consumer_prefetch",
            "Effective prefetch window of the route's channel",
            &prefetch,
        )?;

        let up: Vec<(Labels<1>, i64)> = self
            .connections
            .iter()
            .map(|(k, c)| ([("connection", k.as_str())], i64::from(c.is_connected())))
            .collect();
        gauges(
            &mut enc,
            "worker_connection_up",
            "1 while the broker connection is up",
            &up,
        )?;

        let task_names: Vec<String> = tasks.iter().map(|s| route(s)).collect();
        let runs: Vec<(Labels<1>, u64)> = tasks
            .iter()
            .zip(&task_names)
            .map(|(s, r)| ([("route", r.as_str())], load(&s.runs)))
            .collect();
        counters(
            &mut enc,
            "worker_task_runs",
            "Finished runs of recurring tasks",
            &runs,
        )?;
        let skipped: Vec<(Labels<1>, u64)> = tasks
            .iter()
            .zip(&task_names)
            .map(|(s, r)| ([("route", r.as_str())], load(&s.skipped)))
            .collect();
        counters(
            &mut enc,
            "worker_task_skipped",
            "Ticks skipped because the task's previous runs were still going",
            &skipped,
        )?;

        let paths = self.http.all();
        let mut requests = Vec::new();
        let mut request_durations = Vec::new();
        let mut statuses: Vec<String> = Vec::new();
        let counts: Vec<Vec<(&'static str, u16, u64)>> = paths.iter().map(|p| p.counts()).collect();
        for c in &counts {
            for &(_, status, _) in c {
                statuses.push(status.to_string());
            }
        }
        let mut i = 0;
        for (p, c) in paths.iter().zip(&counts) {
            for &(method, _, n) in c {
                let labels: Labels<3> = [
                    ("method", method),
                    ("route", p.route()),
                    ("status", statuses[i].as_str()),
                ];
                requests.push((labels, n));
                i += 1;
            }
            for (method, h) in p.durations() {
                let labels: Labels<2> = [("method", method), ("route", p.route())];
                request_durations.push((labels, h));
            }
        }
        counters(
            &mut enc,
            "worker_http_requests",
            "HTTP requests, by method, route template (or `unmatched`) and status",
            &requests,
        )?;
        histograms(
            &mut enc,
            "worker_http_request_duration_seconds",
            "Duration of HTTP requests, by method and route template",
            &request_durations,
        )?;

        if let Some(p) = process::sample() {
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
            m.encode_gauge(&(p.resident_bytes as i64))?;
        }
        Ok(())
    }
}
