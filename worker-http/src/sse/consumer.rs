//! The consumer of one `sse` route: a reader task that keeps a connection
//! to the stream (reconnecting with backoff, resuming with `Last-Event-ID`)
//! and a batcher (the runtime's [`Batcher`], as `amqp` routes use) that
//! hands events to the handler by size or flush deadline.
//!
//! The two are joined by a small bounded channel, so a slow handler slows
//! the reading down (TCP backpressure) instead of buffering without bound.
//! Batches run one at a time, in stream order, each to its settlement
//! (`batches.rs`: retries, dead letters); with `resume = true` the id of
//! the last settled event is kept on a broker (`resume.rs`).
//!
//! A reconnect resumes after the last event *read*: every event read is
//! held by this process until its batch settles, so none is skipped. A
//! restarted process resumes after the last event *settled* (the stored
//! point), so the events it had read but not settled are read again.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use worker_core::backoff::Backoff;
use worker_core::batch::{Batcher, FlushReason};
use worker_core::broker::Record;
use worker_core::metrics::RouteStats;
use worker_core::{App, Publisher};

use super::adapter::ErasedSse;
use super::parser::{Item, Parser, RawEvent};
use super::resume;

/// How a batch ended.
pub(crate) enum Settled {
    /// Every event was handled, dead-lettered or dropped.
    Done,
    /// Shutdown came first: some events are not settled (with
    /// `resume = true`, a restart reads them again).
    Interrupted,
}

/// Where the events of failed batches go: a queue on the route's broker.
pub(crate) struct DeadLetter {
    /// The queue.
    pub queue: &'static str,
    /// The publisher of the route's `broker` connection.
    pub publisher: Publisher,
}

/// Everything one consumer needs, resolved from its route, the
/// configuration and the service.
pub(crate) struct SseConsumer {
    pub name: &'static str,
    /// The stream's URL: the route's, or `WORKER_SSE_<NAME>_URL`.
    pub url: Arc<str>,
    /// The URL as logs, metrics labels and spans show it: its password and
    /// secret-looking query values masked.
    pub shown: Arc<str>,
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
    /// Retries of a failed batch (`None`: until it succeeds).
    pub max_retries: Option<u32>,
    /// Delay of the first retry, doubled for each further one.
    pub retry_backoff: Duration,
    /// Where the events of a batch that failed its last attempt go.
    pub dead_letter: Option<DeadLetter>,
    /// Where the resume point is kept (`resume = true`).
    pub resume: Option<Arc<dyn Record>>,
}

/// Why one connection to the stream ended.
enum StreamEnd {
    Shutdown,
    Lost(String),
}

impl SseConsumer {
    /// Runs until shutdown, from when startup is over (the startup hooks
    /// have run); the partial batch is handed to the handler then.
    pub(crate) async fn run(self) {
        tokio::select! {
            _ = self.app.started() => {}
            _ = self.shutdown.cancelled() => return,
        }
        let Some(start) = self.prepare().await else {
            return;
        };
        let (tx, rx) = mpsc::channel(self.bulk_size.max(16));
        let me = Arc::new(self);
        let reader = tokio::spawn(me.clone().read(tx, start.clone()));
        let writer = me
            .resume
            .clone()
            .map(|record| resume::writer(me.name, record, start));
        let (settled, written) = match writer {
            Some((settled, task)) => (Some(settled), Some(task)),
            None => (None, None),
        };
        me.batch(rx, settled).await;
        let _ = reader.await;
        if let Some(task) = written {
            // The last point is stored before the connections close.
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!(
                    route = me.name,
                    "the sse resume point could not be stored at shutdown"
                );
            }
        }
    }

    /// Before the first connect: the stored resume point (`resume`), and
    /// the dead-letter queue declared. `None` at shutdown.
    async fn prepare(&self) -> Option<Option<String>> {
        if let Some(dl) = &self.dead_letter {
            let mut backoff = Backoff::new(self.reconnect_base, self.reconnect_cap);
            while let Err(e) = dl.publisher.declare_queue(dl.queue).await {
                let delay = backoff.next_delay();
                tracing::warn!(
                    route = self.name, queue = dl.queue, error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "cannot declare the sse route's dead-letter queue; the stream waits for it"
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = self.shutdown.cancelled() => return None,
                }
            }
        }
        match &self.resume {
            Some(record) => resume::read(self.name, &**record, &self.shutdown).await,
            None => Some(None),
        }
    }

    async fn read(self: Arc<Self>, tx: mpsc::Sender<RawEvent>, start: Option<String>) {
        let mut backoff = Backoff::new(self.reconnect_base, self.reconnect_cap);
        let mut last_id: Option<String> = start;
        let mut connected = false;
        loop {
            match self
                .connect_once(&tx, &mut last_id, &mut backoff, &mut connected)
                .await
            {
                StreamEnd::Shutdown => break,
                StreamEnd::Lost(why) => {
                    self.stats.ready.store(false, Ordering::Relaxed);
                    let delay = backoff.next_delay();
                    let what = if connected {
                        "event stream lost; reconnecting"
                    } else {
                        "event stream connecting: the server does not answer yet"
                    };
                    tracing::warn!(
                        route = self.name,
                        url = &*self.shown,
                        attempt = backoff.attempt(),
                        retry_in_ms = delay.as_millis() as u64,
                        last_event_id = last_id.as_deref().unwrap_or(""),
                        error = %why,
                        "{what}"
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
        connected: &mut bool,
    ) -> StreamEnd {
        let res = match self.open(last_id.as_deref()).await {
            Ok(res) => res,
            Err(end) => return end,
        };
        *connected = true;
        self.stats.ready.store(true, Ordering::Relaxed);
        if backoff.attempt() > 0 {
            tracing::info!(
                route = self.name,
                url = &*self.shown,
                "event stream is back"
            );
        }
        backoff.reset();
        tracing::debug!(route = self.name, url = &*self.shown, resume_from = ?last_id, "event stream connected");
        self.read_stream(res, tx, last_id, backoff).await
    }

    /// The request, and a response that is an event stream.
    async fn open(&self, last_id: Option<&str>) -> Result<reqwest::Response, StreamEnd> {
        tokio::select! {
            r = open_stream(&self.client, &self.url, &self.headers, last_id) => r.map_err(StreamEnd::Lost),
            _ = self.shutdown.cancelled() => Err(StreamEnd::Shutdown),
        }
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
                Some(Err(e)) => {
                    return StreamEnd::Lost(format!("stream failed: {}", e.without_url()))
                }
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

    async fn batch(&self, mut rx: mpsc::Receiver<RawEvent>, settled: Option<resume::ResumePoint>) {
        let mut batcher = Batcher::new(self.bulk_size, self.flush_interval);
        // Once a batch is left unsettled, the resume point stays before it.
        let mut settled = settled;
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
            self.dispatch(reason, batcher.take(), &mut settled).await;
        }
        if !batcher.is_empty() {
            self.dispatch(FlushReason::Shutdown, batcher.take(), &mut settled)
                .await;
        }
    }

    /// Hands `events` to the handler until they are settled, then moves
    /// the resume point past them.
    async fn dispatch(
        &self,
        reason: FlushReason,
        events: Vec<RawEvent>,
        settled: &mut Option<resume::ResumePoint>,
    ) {
        self.stats.buffered.store(0, Ordering::Relaxed);
        reason.count(&self.stats);
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let last = events.iter().rev().find_map(|e| e.id.clone());
        match self.settle(reason, events).await {
            Settled::Done => {
                if let (Some(point), Some(id)) = (settled.as_ref(), last) {
                    point.advance(&id);
                }
            }
            Settled::Interrupted => *settled = None,
        }
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET url` as an event stream (with `Last-Event-ID` when resuming): the
/// response if it is a success with `Content-Type: text/event-stream`,
/// else why not. The consumer's connect and `check`'s probe.
pub(crate) async fn open_stream(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    last_id: Option<&str>,
) -> Result<reqwest::Response, String> {
    let mut req = client
        .get(url)
        .headers(headers.clone())
        .header(ACCEPT, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache");
    // A stored resume point is read back from the broker: send only an
    // id that can be sent.
    if let Some(id) = last_id.filter(|id| super::parser::sendable_id(id)) {
        req = req.header("Last-Event-ID", id);
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("cannot connect: {}", e.without_url()))?;
    if !res.status().is_success() {
        return Err(format!("the server answered {}", res.status()));
    }
    let is_stream = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    if !is_stream {
        return Err("the response is not `text/event-stream`".to_owned());
    }
    Ok(res)
}
