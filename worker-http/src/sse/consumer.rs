//! The consumer of one `sse` route: a reader task that keeps a connection
//! to the stream (reconnecting with backoff, resuming with `Last-Event-ID`)
//! and a batcher that hands events to the handler by size or flush deadline.
//!
//! The two are joined by a small bounded channel, so a slow handler slows
//! the reading down (TCP backpressure) instead of buffering without bound.
//! Batches run one at a time, in stream order.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use reqwest::header::{HeaderMap, ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use worker_core::backoff::Backoff;
use worker_core::registry::SseOptions;
use worker_core::stats::{FlushReason, RouteStats};
use worker_core::App;

use super::handler::{ErasedSse, SseBatch};
use super::parser::{Item, Parser, RawEvent};

/// Everything one consumer needs.
pub(crate) struct SseConsumer {
    pub name: &'static str,
    pub options: SseOptions,
    pub handler: ErasedSse,
    pub app: App,
    pub stats: Arc<RouteStats>,
    pub shutdown: CancellationToken,
    pub client: reqwest::Client,
    pub headers: HeaderMap,
    pub flush_interval: Duration,
    pub reconnect_base: Duration,
    pub reconnect_cap: Duration,
}

enum SessionEnd {
    Shutdown,
    Lost(String),
}

impl SseConsumer {
    /// Runs until shutdown; the partial batch is handed to the handler then.
    pub(crate) async fn run(self) {
        let bulk = usize::from(self.options.bulk_size.max(1));
        let (tx, rx) = mpsc::channel(bulk.max(16));
        let me = Arc::new(self);
        let reader = tokio::spawn(me.clone().read(tx));
        me.batch(rx, bulk).await;
        let _ = reader.await;
    }

    async fn read(self: Arc<Self>, tx: mpsc::Sender<RawEvent>) {
        let mut backoff = Backoff::new(self.reconnect_base, self.reconnect_cap);
        let mut last_id: Option<String> = None;
        loop {
            match self.session(&tx, &mut last_id, &mut backoff).await {
                SessionEnd::Shutdown => break,
                SessionEnd::Lost(why) => {
                    self.stats.ready.store(false, Ordering::Relaxed);
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        route = self.name,
                        url = self.options.url,
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

    async fn session(
        &self,
        tx: &mpsc::Sender<RawEvent>,
        last_id: &mut Option<String>,
        backoff: &mut Backoff,
    ) -> SessionEnd {
        let mut req = self
            .client
            .get(self.options.url)
            .headers(self.headers.clone())
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache");
        if let Some(id) = last_id.as_deref() {
            req = req.header("Last-Event-ID", id);
        }
        let res = tokio::select! {
            r = req.send() => r,
            _ = self.shutdown.cancelled() => return SessionEnd::Shutdown,
        };
        let res = match res {
            Ok(r) => r,
            Err(e) => return SessionEnd::Lost(format!("cannot connect: {e}")),
        };
        if !res.status().is_success() {
            return SessionEnd::Lost(format!("the server answered {}", res.status()));
        }
        let is_stream = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_stream {
            return SessionEnd::Lost("the response is not `text/event-stream`".to_owned());
        }
        self.stats.ready.store(true, Ordering::Relaxed);
        if backoff.attempt() > 0 {
            tracing::info!(
                route = self.name,
                url = self.options.url,
                "event stream is back"
            );
        }
        backoff.reset();
        tracing::debug!(route = self.name, url = self.options.url, resume_from = ?last_id, "event stream connected");

        let mut parser = Parser::new(last_id.as_deref());
        let mut items = Vec::new();
        let mut body = res.bytes_stream();
        loop {
            let chunk = tokio::select! {
                c = body.next() => c,
                _ = self.shutdown.cancelled() => return SessionEnd::Shutdown,
            };
            let bytes = match chunk {
                Some(Ok(b)) => b,
                Some(Err(e)) => return SessionEnd::Lost(format!("stream failed: {e}")),
                None => return SessionEnd::Lost("the server closed the stream".to_owned()),
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
                        let wanted = self.options.events.is_empty()
                            || self.options.events.contains(&ev.event.as_str());
                        // The batcher drains the channel until the reader
                        // ends, so this never blocks past shutdown.
                        if wanted && tx.send(ev).await.is_err() {
                            return SessionEnd::Shutdown;
                        }
                    }
                }
            }
        }
    }

    async fn batch(&self, mut rx: mpsc::Receiver<RawEvent>, bulk: usize) {
        let mut pending: Vec<RawEvent> = Vec::with_capacity(bulk);
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut armed = false;
        loop {
            tokio::select! {
                biased;
                ev = rx.recv() => match ev {
                    Some(ev) => {
                        pending.push(ev);
                        if pending.len() == 1 {
                            timer.as_mut().reset(Instant::now() + self.flush_interval);
                            armed = true;
                        }
                        self.stats.buffered.store(pending.len(), Ordering::Relaxed);
                        if pending.len() >= bulk {
                            armed = false;
                            self.dispatch(FlushReason::Size, &mut pending, bulk).await;
                        }
                    }
                    // The reader ended: shutdown.
                    None => break,
                },
                _ = &mut timer, if armed => {
                    armed = false;
                    self.dispatch(FlushReason::Deadline, &mut pending, bulk).await;
                }
            }
        }
        if !pending.is_empty() {
            self.dispatch(FlushReason::Shutdown, &mut pending, bulk)
                .await;
        }
    }

    async fn dispatch(&self, reason: FlushReason, pending: &mut Vec<RawEvent>, bulk: usize) {
        let events = std::mem::replace(pending, Vec::with_capacity(bulk));
        self.stats.buffered.store(0, Ordering::Relaxed);
        self.stats.flushed(reason);
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let size = events.len();
        let span = tracing::info_span!("batch", route = self.name, size, reason = reason.name());
        let batch = SseBatch {
            events,
            stats: self.stats.clone(),
            source: self.options.url,
        };
        let started = std::time::Instant::now();
        let result = AssertUnwindSafe((self.handler.call)(batch, self.app.clone()))
            .catch_unwind()
            .instrument(span.clone())
            .await;
        let elapsed = started.elapsed();
        self.stats
            .handler_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.stats.handler_duration.observe(elapsed);
        self.stats.runs.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(parent: &span, route = self.name, error = %e, "handler failed");
            }
            Err(panic) => {
                self.stats.panics.fetch_add(1, Ordering::Relaxed);
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                tracing::error!(parent: &span, route = self.name, panic = %msg, "handler panicked");
            }
        }
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
