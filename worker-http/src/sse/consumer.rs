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
//!
//! A connection is dropped, counted and reconnected when it passes a bound
//! of [`SseLimits`]: a line or an event too large, or no byte for the idle
//! timeout (the wait for the response included).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use worker_core::backend::backoff::Backoff;
use worker_core::backend::batch::{Batcher, FlushReason};
use worker_core::backend::broker::Record;
use worker_core::backend::metrics::{RouteStats, StreamError};
use worker_core::{App, Publisher};

use super::adapter::ErasedSse;
use super::connect::{open_stream, within};
use super::parser::{Item, Overflow, Parser, RawEvent};
use super::resume;
use crate::config::SseLimits;

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
    pub bulk_flush_interval: Duration,
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
    /// Line, event and idle bounds of each connection.
    pub limits: SseLimits,
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
    /// Dropped by the consumer, for a [`StreamError`].
    Dropped(String),
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
            let end = self
                .connect_once(&tx, &mut last_id, &mut backoff, &mut connected)
                .await;
            let (what, why) = match end {
                StreamEnd::Shutdown => break,
                StreamEnd::Dropped(why) => ("event stream dropped; reconnecting", why),
                StreamEnd::Lost(why) if connected => ("event stream lost; reconnecting", why),
                StreamEnd::Lost(why) => (
                    "event stream connecting: the server does not answer yet",
                    why,
                ),
            };
            self.stats.ready.store(false, Ordering::Relaxed);
            let delay = backoff.next_delay();
            tracing::warn!(
                route = self.name,
                url = &*self.shown,
                attempt = backoff.attempt(),
                retry_in_ms = delay.as_millis() as u64,
                last_event_id = %shown_id(last_id.as_deref().unwrap_or("")),
                error = %why,
                "{what}"
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.cancelled() => break,
            }
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
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

    /// The request, and a response that is an event stream, within the
    /// idle timeout.
    async fn open(&self, last_id: Option<&str>) -> Result<reqwest::Response, StreamEnd> {
        let request = open_stream(&self.client, &self.url, &self.headers, last_id);
        let answer = tokio::select! {
            r = within(self.limits.idle_timeout, request) => r,
            _ = self.shutdown.cancelled() => return Err(StreamEnd::Shutdown),
        };
        match answer {
            None => Err(self.idle()),
            Some(Err(e)) if e.redirect => {
                Err(self.dropped(StreamError::RedirectRefused, e.message))
            }
            Some(r) => r.map_err(|e| StreamEnd::Lost(e.message)),
        }
    }

    /// Counts a connection dropped for `reason`; `why` goes to the log.
    fn dropped(&self, reason: StreamError, why: String) -> StreamEnd {
        self.stats.stream_error(reason);
        StreamEnd::Dropped(why)
    }

    /// The connection passed the line or the event limit.
    fn overflowed(&self, overflow: Overflow) -> StreamEnd {
        match overflow {
            Overflow::LineTooLong => self.dropped(
                StreamError::LineTooLong,
                format!(
                    "a line is longer than {} bytes (`WORKER_SSE_MAX_LINE`): the connection is dropped",
                    self.limits.max_line
                ),
            ),
            Overflow::EventTooLarge => self.dropped(
                StreamError::EventTooLarge,
                format!(
                    "an event's data is larger than {} bytes (`WORKER_SSE_MAX_EVENT`): the connection is dropped",
                    self.limits.max_event
                ),
            ),
        }
    }

    /// Nothing came for the idle timeout.
    fn idle(&self) -> StreamEnd {
        let timeout = self.limits.idle_timeout.unwrap_or_default();
        self.dropped(
            StreamError::IdleTimeout,
            format!(
                "nothing received for {timeout:?} (`WORKER_SSE_IDLE_TIMEOUT`): the connection is dropped"
            ),
        )
    }

    /// Parses the body into events and passes the wanted ones on.
    async fn read_stream(
        &self,
        res: reqwest::Response,
        tx: &mpsc::Sender<RawEvent>,
        last_id: &mut Option<String>,
        backoff: &mut Backoff,
    ) -> StreamEnd {
        let mut parser = Parser::with_limits(last_id.as_deref(), &self.limits);
        let mut items = Vec::new();
        let mut body = res.bytes_stream();
        loop {
            // Any bytes, a heartbeat comment too, restart the idle timeout.
            let chunk = tokio::select! {
                c = within(self.limits.idle_timeout, body.next()) => c,
                _ = self.shutdown.cancelled() => return StreamEnd::Shutdown,
            };
            let Some(chunk) = chunk else {
                return self.idle();
            };
            let bytes = match chunk {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    return StreamEnd::Lost(format!("stream failed: {}", e.without_url()))
                }
                None => return StreamEnd::Lost("the server closed the stream".to_owned()),
            };
            let fed = parser.feed(&bytes, &mut items);
            // The items before an overflow are passed on.
            if let Some(end) = self.pass_on(&mut items, tx, last_id, backoff).await {
                return end;
            }
            if let Err(overflow) = fed {
                return self.overflowed(overflow);
            }
        }
    }

    /// Applies the parsed `items`: retry settings, and the wanted events
    /// sent to the batcher. `Some` at shutdown.
    async fn pass_on(
        &self,
        items: &mut Vec<Item>,
        tx: &mpsc::Sender<RawEvent>,
        last_id: &mut Option<String>,
        backoff: &mut Backoff,
    ) -> Option<StreamEnd> {
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
                    let wanted = self.events.is_empty() || self.events.contains(&ev.event.as_str());
                    // The batcher drains the channel until the reader
                    // ends, so this never blocks past shutdown.
                    if wanted && tx.send(ev).await.is_err() {
                        return Some(StreamEnd::Shutdown);
                    }
                }
            }
        }
        None
    }

    async fn batch(&self, mut rx: mpsc::Receiver<RawEvent>, settled: Option<resume::ResumePoint>) {
        let mut batcher = Batcher::new(self.bulk_size, self.bulk_flush_interval);
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

/// How much of a last event ID the reconnect lines show.
const SHOWN_ID_CHARS: usize = 64;

/// `id` as the log shows it: its first [`SHOWN_ID_CHARS`] characters (with
/// its length when cut), control characters as `?`, so that an ID chosen
/// by the server can neither flood nor forge log lines.
fn shown_id(id: &str) -> String {
    let mut shown: String = id
        .chars()
        .take(SHOWN_ID_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if id.chars().count() > SHOWN_ID_CHARS {
        shown.push_str(&format!("... ({} bytes)", id.len()));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::shown_id;

    #[test]
    fn shown_ids_are_capped_and_have_no_control_characters() {
        assert_eq!(shown_id("1204"), "1204");
        assert_eq!(shown_id("a\x1b[31mb\nc"), "a?[31mb?c");
        let long = "x".repeat(1024);
        let shown = shown_id(&long);
        assert_eq!(shown, format!("{}... (1024 bytes)", "x".repeat(64)));
    }
}
