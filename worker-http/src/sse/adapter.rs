//! The adapter of `sse` handlers: `async fn(Vec<Event<T>>, extractors...)`,
//! erased behind one function type so a route record can carry them.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::de::{DeserializeOwned, IntoDeserializer};
use worker_core::backend::app::{FromApp, IntoHandlerResult};
use worker_core::backend::future::BoxFuture;
use worker_core::backend::metrics::RouteStats;
use worker_core::{App, Error};

use super::parser::RawEvent;

/// One Server-Sent Event with its data decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<T = serde_json::Value> {
    /// The event type (`message` when the server sent none).
    pub event: String,
    /// The event's ID (the stream's last event ID when it was dispatched).
    pub id: Option<String>,
    /// The `data:` decoded: as JSON, or, when that fails, as the plain text
    /// itself (so `Event<String>` receives any data).
    pub data: T,
}

/// A batch of raw events on its way to a handler.
pub struct SseBatch {
    /// The events, in stream order.
    pub events: Vec<RawEvent>,
    /// The route's counters (decode failures are counted under `source`).
    pub stats: Arc<RouteStats>,
    /// The stream's URL.
    pub source: std::sync::Arc<str>,
}

impl std::fmt::Debug for SseBatch {
    /// The stream and the number of events, not their data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseBatch")
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

fn decode<T: DeserializeOwned>(data: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(data).or_else(|json_err| {
        let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            data.into_deserializer();
        T::deserialize(text).map_err(|_| json_err)
    })
}

impl SseBatch {
    /// Decodes every event; undecodable ones are logged, counted and skipped.
    pub fn decode<T: DeserializeOwned>(&self) -> Vec<Event<T>> {
        let mut out = Vec::with_capacity(self.events.len());
        for raw in &self.events {
            match decode::<T>(&raw.data) {
                Ok(data) => out.push(Event {
                    event: raw.event.clone(),
                    id: raw.id.clone(),
                    data,
                }),
                Err(e) => {
                    self.stats
                        .queue(&self.source)
                        .decode_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        route = %self.stats.route,
                        event = %raw.event,
                        id = raw.id.as_deref().unwrap_or(""),
                        error = %e,
                        "undecodable event skipped"
                    );
                }
            }
        }
        out
    }
}

/// An async fn usable as an `sse` handler: first argument `Vec<Event<T>>`,
/// then up to seven [`FromApp`] extractors; returns `()` or `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `sse` handler",
    label = "not an sse handler",
    note = "an `sse` handler is an `async fn` whose first argument is `Vec<worker::sse::Event<T>>` (`T: serde::de::DeserializeOwned`), whose further arguments are `worker::App`, `worker::State<T>` or `worker::Publisher`, and that returns `()` or `Result<(), E>`"
)]
pub trait SseHandler<Args>: Clone + Send + Sync + 'static {
    /// Decodes the batch, extracts the arguments and calls the handler.
    fn call(&self, batch: SseBatch, app: App) -> BoxFuture<'static, Result<(), Error>>;
}

macro_rules! impl_handler {
    ($($a:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, T, $($a,)*> SseHandler<(T, $($a,)*)> for F
        where
            F: Fn(Vec<Event<T>>, $($a,)*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: IntoHandlerResult,
            T: DeserializeOwned + Send + 'static,
            $($a: FromApp + Send + 'static,)*
        {
            fn call(&self, batch: SseBatch, app: App) -> BoxFuture<'static, Result<(), Error>> {
                let events = batch.decode::<T>();
                if events.is_empty() {
                    return Box::pin(async { Ok(()) });
                }
                $(
                    let $a = match $a::from_app(&app) {
                        Ok(v) => v,
                        Err(e) => return Box::pin(async move { Err(e) }),
                    };
                )*
                let fut = (self)(events, $($a,)*);
                Box::pin(async move { fut.await.into_handler_result() })
            }
        }
    };
}

impl_handler!();
impl_handler!(A1);
impl_handler!(A1, A2);
impl_handler!(A1, A2, A3);
impl_handler!(A1, A2, A3, A4);
impl_handler!(A1, A2, A3, A4, A5);
impl_handler!(A1, A2, A3, A4, A5, A6);
impl_handler!(A1, A2, A3, A4, A5, A6, A7);

/// The type-erased call of an `sse` handler.
pub(crate) type SseCall =
    dyn Fn(SseBatch, App) -> BoxFuture<'static, Result<(), Error>> + Send + Sync;

/// The erased adapter an `sse` route record's `make` returns.
#[derive(Clone)]
pub struct ErasedSse {
    pub(crate) call: Arc<SseCall>,
}

impl std::fmt::Debug for ErasedSse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErasedSse").finish_non_exhaustive()
    }
}

/// Erases an `sse` handler; called by the `#[route(sse)]` expansion (and by
/// hand-written route records).
pub fn erase_sse<H, Args>(handler: H) -> ErasedSse
where
    H: SseHandler<Args>,
{
    ErasedSse {
        call: Arc::new(move |batch, app| handler.call(batch, app)),
    }
}

/// Compile-time check emitted by the macro at the handler's name.
pub fn assert_sse_handler<H: SseHandler<Args>, Args>(_handler: &H) {}

/// The first argument of an `sse` handler: `Vec<worker::sse::Event<T>>`.
#[diagnostic::on_unimplemented(
    message = "the first argument of an `sse` handler must be `Vec<worker::sse::Event<T>>`, not `{Self}`",
    label = "expected `Vec<worker::sse::Event<T>>`",
    note = "`T` must implement `serde::de::DeserializeOwned`; `Vec<Event>` receives `serde_json::Value`s and `Vec<Event<String>>` the text"
)]
pub trait FromEvents: Sized {
    /// Decodes the batch; `None` when no event decoded (the handler is not
    /// called).
    fn from_events(batch: &SseBatch) -> Option<Self>;
}

impl<T: DeserializeOwned> FromEvents for Vec<Event<T>> {
    fn from_events(batch: &SseBatch) -> Option<Self> {
        let events = batch.decode::<T>();
        (!events.is_empty()).then_some(events)
    }
}

/// Compile-time check emitted at the first argument of an `sse` handler.
pub fn assert_from_events<T: FromEvents>() {}

/// The adapter `#[route(sse)]` generates: decode, extract, call.
pub(crate) type SseAdapterFn = fn(SseBatch, App) -> BoxFuture<'static, Result<(), Error>>;

/// Erases a generated adapter, as [`erase_sse`] erases a handler.
pub fn erase_sse_adapter(adapter: SseAdapterFn) -> ErasedSse {
    ErasedSse {
        call: Arc::new(adapter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use worker_core::State;

    fn batch(data: &[&str]) -> (SseBatch, Arc<RouteStats>) {
        let stats = Arc::new(RouteStats::default());
        let events = data
            .iter()
            .enumerate()
            .map(|(i, d)| RawEvent {
                event: "message".into(),
                id: Some(i.to_string()),
                data: (*d).into(),
            })
            .collect();
        (
            SseBatch {
                events,
                stats: stats.clone(),
                source: "http://test/events".into(),
            },
            stats,
        )
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Tick {
        n: u32,
    }

    #[test]
    fn decodes_json_or_text_and_counts_failures() {
        let (b, stats) = batch(&[r#"{"n":1}"#, "oops", r#"{"n":2}"#]);
        let ticks = b.decode::<Tick>();
        assert_eq!(ticks.iter().map(|e| e.data.n).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(ticks[1].id.as_deref(), Some("2"));
        assert_eq!(stats.queues()["http://test/events"].decode_failures, 1);
        let (b, _) = batch(&["plain text", "\"quoted\""]);
        let texts: Vec<String> = b.decode::<String>().into_iter().map(|e| e.data).collect();
        assert_eq!(texts, ["plain text", "quoted"]);
    }

    async fn handler(events: Vec<Event<Tick>>, State(seen): State<std::sync::Mutex<Vec<u32>>>) {
        seen.lock().unwrap().extend(events.iter().map(|e| e.data.n));
    }

    #[tokio::test]
    async fn erased_handlers_extract_and_skip_empty_batches() {
        let erased = erase_sse(handler);
        let app = App::new();
        app.insert(std::sync::Mutex::new(Vec::<u32>::new()));
        let (b, _) = batch(&[r#"{"n":5}"#, r#"{"n":6}"#]);
        (erased.call)(b, app.clone()).await.unwrap();
        let (b, _) = batch(&["bad"]);
        (erased.call)(b, App::new()).await.unwrap(); // nothing decoded: not called
        assert_eq!(
            *app.get::<std::sync::Mutex<Vec<u32>>>()
                .unwrap()
                .lock()
                .unwrap(),
            [5, 6]
        );
        let (b, _) = batch(&[r#"{"n":7}"#]);
        let err = (erased.call)(b, App::new()).await.unwrap_err();
        assert!(err.to_string().contains("no state of type"), "{err}");
    }
}
