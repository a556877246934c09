//! The consumer of one `sse` route: a reader task that keeps a connection
//! to the stream (reconnecting with backoff, resuming with `Last-Event-ID`)
//! and a batcher (the runtime's [`Batcher`], as `amqp` routes use) that
//! hands events to the handler by size or flush deadline.
//!
//! The two are joined by a small bounded channel, so a slow handler slows
//! the reading down (TCP backpressure) instead of buffering without bound.
//! Batches run one at a time, in stream order.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use worker_core::backoff::Backoff;
use worker_core::batch::bisect::{self, Run};
use worker_core::batch::{Batcher, FlushReason};
use worker_core::call::run_guarded;
use worker_core::metrics::RouteStats;
use worker_core::settlement::Outcome;
use worker_core::App;

use super::adapter::{ErasedSse, SseBatch};
use super::parser::{Item, Parser, RawEvent};

/// Everything one consumer needs, resolved from its route, the
/// configuration and the service.
pub(crate) struct SseConsumer {
    pub name: &'static str,
    /// The stream's URL: the route's, or `WORKER_SSE_<NAME>_URL`.
    pub url: Arc<str>,
    /// Event names to keep (empty: all).
    pub events: &'static [&'static str],
    pub bulk_size: usize,
    pub flush_interval: Duration,
    /// Longest a handler run may take.
    pub timeout: Option<Duration>,
    /// Re-run failed batches in halves.
    pub bisect: bool,
    pub handler: ErasedSse,
    pub app: App,
    pub stats: Arc<RouteStats>,
    pub shutdown: CancellationToken,
    pub client: reqwest::Client,
    pub headers: HeaderMap,
    pub reconnect_base: Duration,
    pub reconnect_cap: Duration,
}

/// Why one connection to the stream ended.
enum StreamEnd {
    Shutdown,
    Lost(String),
}

impl SseConsumer {
    /// Runs until shutdown; the partial batch is handed to the handler then.
    pub(crate) async fn run(self) {
        let (tx, rx) = mpsc::channel(self.bulk_size.max(16));
        let me = Arc::new(self);
        let reader = tokio::spawn(me.clone().read(tx));
        me.batch(rx).await;
        let _ = reader.await;
    }

    async fn read(self: Arc<Self>, tx: mpsc::Sender<RawEvent>) {
        let mut backoff = Backoff::new(self.reconnect_base, self.reconnect_cap);
        let mut last_id: Option<String> = None;
        loop {
            match self.connect_once(&tx, &mut last_id, &mut backoff).await {
                StreamEnd::Shutdown => break,
                StreamEnd::Lost(why) => {
                    self.stats.ready.store(false, Ordering::Relaxed);
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        route = self.name,
                        url = &*self.url,
                        attempt = backoff.attempt(),
                        retry_in_ms = delay.as_millis() as u64,
                        last_event_id = last_id.as_deref().unwrap_or(""),
                        error = %why,
                        "event stream lost; reconnecting"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.shutdown.cancelled() => break,
                    }
                    self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.stats.ready.store(false, Ordering::Relaxed);
    }

    /// Connects, resuming from `last_id`, and reads until the stream ends.
    async fn connect_once(
        &self,
        tx: &mpsc::Sender<RawEvent>,
        last_id: &mut Option<String>,
        backoff: &mut Backoff,
    ) -> StreamEnd {
        let res = match self.open(last_id.as_deref()).await {
            Ok(res) => res,
            Err(end) => return end,
        };
        self.stats.ready.store(true, Ordering::Relaxed);
        if backoff.attempt() > 0 {
            tracing::info!(route = self.name, url = &*self.url, "event stream is back");
        }
        backoff.reset();
        tracing::debug!(route = self.name, url = &*self.url, resume_from = ?last_id, "event stream connected");
        self.read_stream(res, tx, last_id, backoff).await
    }

    /// The request, and a response that is an event stream.
    async fn open(&self, last_id: Option<&str>) -> Result<reqwest::Response, StreamEnd> {
        let mut req = self
            .client
            .get(&*self.url)
            .headers(self.headers.clone())
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache");
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = tokio::select! {
            r = req.send() => r,
            _ = self.shutdown.cancelled() => return Err(StreamEnd::Shutdown),
        };
        let res = res.map_err(|e| StreamEnd::Lost(format!("cannot connect: {e}")))?;
        if !res.status().is_success() {
            return Err(StreamEnd::Lost(format!(
                "the server answered {}",
                res.status()
            )));
        }
        let is_stream = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_stream {
            return Err(StreamEnd::Lost(
                "the response is not `text/event-stream`".to_owned(),
            ));
        }
        Ok(res)
    }

    /// Parses the body into events and passes the wanted ones on.
    async fn read_stream(
        &self,
        res: reqwest::Response,
        tx: &mpsc::Sender<RawEvent>,
        last_id: &mut Option<String>,
        backoff: &mut Backoff,
    ) -> StreamEnd {
        let mut parser = Parser::new(last_id.as_deref());
        let mut items = Vec::new();
        let mut body = res.bytes_stream();
        loop {
            let chunk = tokio::select! {
                c = body.next() => c,
                _ = self.shutdown.cancelled() => return StreamEnd::Shutdown,
            };
            let bytes = match chunk {
                Some(Ok(b)) => b,
                Some(Err(e)) => return StreamEnd::Lost(format!("stream failed: {e}")),
                None => return StreamEnd::Lost("the server closed the stream".to_owned()),
            };
            parser.feed(&bytes, &mut items);
            for item in items.drain(..) {
                match item {
                    Item::Retry(d) => {
                        tracing::debug!(
                            route = self.name,
                            retry_ms = d.as_millis() as u64,
                            "server set the reconnection time"
                        );
                        *backoff = Backoff::new(d, self.reconnect_cap.max(d));
                    }
                    Item::Event(ev) => {
                        if ev.id.is_some() {
                            last_id.clone_from(&ev.id);
                        }
                        let wanted =
                            self.events.is_empty() || self.events.contains(&ev.event.as_str());
                        // The batcher drains the channel until the reader
                        // ends, so this never blocks past shutdown.
                        if wanted && tx.send(ev).await.is_err() {
                            return StreamEnd::Shutdown;
                        }
                    }
                }
            }
        }
    }

    async fn batch(&self, mut rx: mpsc::Receiver<RawEvent>) {
        let mut batcher = Batcher::new(self.bulk_size, self.flush_interval);
        loop {
            let reason = tokio::select! {
                biased;
                ev = rx.recv() => match ev {
                    Some(ev) => {
                        let full = batcher.push(ev);
                        self.stats.buffered.store(batcher.len() as u64, Ordering::Relaxed);
                        if full {
                            FlushReason::Size
                        } else if batcher.is_due() {
                            // Events keep arriving: the deadline is kept
                            // without waiting for the stream to pause.
                            FlushReason::Deadline
                        } else {
                            continue;
                        }
                    }
                    // The reader ended: shutdown.
                    None => break,
                },
                _ = batcher.deadline(), if batcher.is_armed() => FlushReason::Deadline,
            };
            if let Some(deadline) = batcher
                .deadline_at()
                .filter(|_| reason == FlushReason::Deadline)
            {
                let late = tokio::time::Instant::now().saturating_duration_since(deadline);
                self.stats.flush_delay.observe(late);
            }
            self.dispatch(reason, batcher.take()).await;
        }
        if !batcher.is_empty() {
            self.dispatch(FlushReason::Shutdown, batcher.take()).await;
        }
    }

    /// Hands `events` to the handler; with `bisect`, a failed batch is
    /// re-run in halves so that only the events that fail are lost to it.
    async fn dispatch(&self, reason: FlushReason, events: Vec<RawEvent>) {
        self.stats.buffered.store(0, Ordering::Relaxed);
        reason.count(&self.stats);
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let n = events.len();
        // With tracing on, the batch's `process` span (else a no-op).
        let span = worker_core::otel::sse_batch_span(self.name, &self.url, n);
        let resolved = bisect::resolve(n, self.bisect, |items| {
            let events: Vec<RawEvent> = items.iter().map(|&i| events[i].clone()).collect();
            self.call(reason, events)
        })
        .instrument(span)
        .await;
        if resolved.bisected {
            self.stats.bisected.fetch_add(1, Ordering::Relaxed);
            self.stats
                .bisect_calls
                .fetch_add(u64::from(resolved.runs - 1), Ordering::Relaxed);
            let failed = resolved
                .resolutions()
                .filter(|r| r.1 != Outcome::Succeeded)
                .count();
            tracing::warn!(
                route = self.name,
                events = n,
                failed,
                runs = resolved.runs,
                "bisected a failed batch: only the failing events were lost"
            );
        }
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    async fn call(&self, reason: FlushReason, events: Vec<RawEvent>) -> Run {
        let span = tracing::info_span!(
            "batch",
            route = self.name,
            size = events.len(),
            reason = reason.name(),
            outcome = tracing::field::Empty
        );
        let verdicts = bisect::Verdicts::undecided(events.len());
        let batch = SseBatch {
            events,
            stats: self.stats.clone(),
            source: self.url.clone(),
        };
        let call = (self.handler.call)(batch, self.app.clone());
        let result = run_guarded(&self.stats, span, self.timeout, call).await;
        Run { result, verdicts }
    }
}
