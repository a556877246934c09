//! The record of an `sse` route: its options, the rules they obey (the
//! macro checks them at compile time, [`SseOptions::problems`] checks a
//! record built by hand), and the constructor of its adapter. The runtime
//! knows it as a [`ServiceRoute`]; the SSE service downcasts it back.

use std::collections::HashSet;
use std::time::Duration;

use worker_core::backend::registry::{BrokerUse, Route, RouteKind, ServiceRoute};
use worker_core::rules::{bounds, defaults, names, options as opt, route, url};

use super::adapter::ErasedSse;

/// What `#[route(sse)]` registers: the options and the adapter.
#[derive(Debug, Clone, Copy)]
pub struct SseRoute {
    /// Stream, batching, failures.
    pub options: SseOptions,
    /// Builds the batch adapter.
    pub make: fn() -> ErasedSse,
}

impl ServiceRoute for SseRoute {
    fn backend(&self) -> &'static str {
        "sse"
    }

    fn describe(&self, var: &dyn Fn(&str) -> Option<String>) -> (String, String) {
        sse_row(&self.options, var)
    }

    fn problems(&self) -> Vec<String> {
        self.options.problems()
    }

    fn consumes(&self) -> bool {
        true
    }

    fn broker(&self) -> Option<BrokerUse> {
        let o = &self.options;
        o.uses_broker()
            .then(|| BrokerUse::new(o.broker.unwrap_or("default"), o.resume))
    }
}

/// The SSE record of `route`, if it is an `sse` route.
pub(crate) fn sse_route(route: &Route) -> Option<&'static SseRoute> {
    match route.kind {
        RouteKind::Service(s) => {
            let any: &'static dyn std::any::Any = s;
            any.downcast_ref::<SseRoute>()
        }
        _ => None,
    }
}

fn bound(b: &bounds::Bound, value: impl Into<i128>) -> Result<(), String> {
    b.check(value.into()).map(|_| ())
}

/// Options of an `sse` route.
#[derive(Debug, Clone, Copy)]
pub struct SseOptions {
    /// The stream's URL.
    pub url: &'static str,
    /// Events per batch.
    pub bulk_size: u16,
    /// Flush deadline of a partial batch.
    pub bulk_flush_interval: Option<Duration>,
    /// Event names to keep (empty: all).
    pub events: &'static [&'static str],
    /// Named connection for headers and credentials.
    pub connection: Option<&'static str>,
    /// Longest a handler run may take.
    pub timeout: Option<Duration>,
    /// On a failure, re-run the batch in halves to find the failing events.
    pub bisect: bool,
    /// Attempts after a batch's first before its events go to
    /// `dead_letter` (or are dropped, loudly); `None`: retried until they
    /// succeed, the stream waiting meanwhile.
    pub max_retries: Option<u32>,
    /// Delay before the first retry of a failed batch, doubled for each
    /// further one (capped at a minute).
    pub retry_backoff: Option<Duration>,
    /// Queue (on the `broker` connection) that keeps the events of a batch
    /// that failed its last attempt, one JSON message per event.
    pub dead_letter: Option<&'static str>,
    /// Keep the last settled event id on the `broker` connection, so that a
    /// restarted process resumes after it.
    pub resume: bool,
    /// The amqp connection of `dead_letter` and `resume`
    /// (`WORKER_AMQP_<NAME>_URL`); `None` is the default one.
    pub broker: Option<&'static str>,
}

impl SseOptions {
    /// The documented defaults, with the given stream URL.
    pub const fn new(url: &'static str) -> Self {
        SseOptions {
            url,
            bulk_size: defaults::BULK_SIZE,
            bulk_flush_interval: None,
            events: &[],
            connection: None,
            timeout: None,
            bisect: false,
            max_retries: None,
            retry_backoff: None,
            dead_letter: None,
            resume: false,
            broker: None,
        }
    }

    /// The delay of the first retry of a failed batch.
    pub fn retry_backoff_or_default(&self) -> Duration {
        self.retry_backoff.unwrap_or(defaults::RETRY_BACKOFF)
    }

    /// Whether the route keeps anything on a broker (`dead_letter`,
    /// `resume`): then it has a connection, `broker` or the default one.
    pub fn uses_broker(&self) -> bool {
        self.dead_letter.is_some() || self.resume
    }

    /// Every rule `#[route(sse)]` checks at compile time, for a record
    /// built by hand.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(url::sse_url(self.url).err());
        out.extend(bound(&bounds::BULK_SIZE, self.bulk_size).err());
        if let Some(d) = self.bulk_flush_interval {
            out.extend(route::positive(opt::BULK_FLUSH_INTERVAL, d).err());
        }
        let mut seen = HashSet::new();
        for e in self.events {
            out.extend(names::event_name(e).err());
            if !seen.insert(*e) {
                out.push(route::duplicate("event", e));
            }
        }
        if let Some(c) = self.connection {
            out.extend(names::connection_name(c).err());
        }
        if let Some(d) = self.timeout {
            out.extend(route::positive(opt::TIMEOUT, d).err());
        }
        if let Some(n) = self.max_retries {
            out.extend(bound(&bounds::MAX_RETRIES, n).err());
        }
        if let Some(d) = self.retry_backoff {
            out.extend(route::positive(opt::RETRY_BACKOFF, d).err());
        }
        if let Some(dl) = self.dead_letter {
            out.extend(names::queue_name(dl).err());
        }
        if let Some(b) = self.broker {
            out.extend(names::connection_name(b).err());
            if !self.uses_broker() {
                out.push(route::broker_without_use());
            }
        }
        out
    }
}

/// The source (the effective stream URL, masked: the connection's
/// `WORKER_SSE_<NAME>_URL` read through `var` when set) and every option
/// of an sse route.
fn sse_row(o: &SseOptions, var: &dyn Fn(&str) -> Option<String>) -> (String, String) {
    let configured = o
        .connection
        .and_then(|c| var(&format!("WORKER_SSE_{}_URL", c.to_ascii_uppercase())));
    let url = worker_core::rules::url::mask_url(configured.as_deref().unwrap_or(o.url));
    let mut opts = vec![format!("bulk_size={}", o.bulk_size)];
    if let Some(d) = o.bulk_flush_interval {
        opts.push(format!(
            "bulk_flush_interval={}",
            humantime::format_duration(d)
        ));
    }
    if !o.events.is_empty() {
        opts.push(format!("events={}", o.events.join(",")));
    }
    if let Some(c) = o.connection {
        opts.push(format!("connection={c}"));
    }
    if let Some(d) = o.timeout {
        opts.push(format!("timeout={}", humantime::format_duration(d)));
    }
    if o.bisect {
        opts.push("bisect".to_owned());
    }
    match o.max_retries {
        Some(n) => opts.push(format!("max_retries={n}")),
        None => opts.push("max_retries=unlimited".to_owned()),
    }
    opts.push(format!(
        "retry_backoff={}",
        humantime::format_duration(o.retry_backoff_or_default())
    ));
    if let Some(d) = o.dead_letter {
        opts.push(format!("dead_letter={d}"));
    }
    if o.resume {
        opts.push("resume".to_owned());
    }
    if let Some(b) = o.broker {
        opts.push(format!("broker={b}"));
    }
    (url, opts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_options_break_the_macros_rules() {
        let sse = SseOptions {
            events: &["a", "a"],
            timeout: Some(Duration::ZERO),
            broker: Some("state"),
            ..SseOptions::new("ftp://x")
        };
        assert_eq!(
            sse.problems(),
            [
                "expected an `http://` or `https://` URL, got `ftp://x`",
                "duplicate event `a`",
                "`timeout` must be greater than zero",
                "`broker` names the connection that keeps `dead_letter` and `resume`, and neither is set: add one, or remove `broker`",
            ]
        );
    }

    #[test]
    fn an_sse_row_shows_every_option_and_the_effective_url_masked() {
        let o = SseOptions {
            connection: Some("prices"),
            bulk_size: 10,
            bisect: true,
            max_retries: Some(3),
            dead_letter: Some("ticks.dead"),
            resume: true,
            ..SseOptions::new("http://localhost:9000/events")
        };
        let (source, options) = sse_row(&o, &|name| {
            (name == "WORKER_SSE_PRICES_URL")
                .then(|| "https://feed:s3cret@prices.example/stream".to_owned())
        });
        assert_eq!(source, "https://feed:****@prices.example/stream");
        assert_eq!(
            options,
            "bulk_size=10 connection=prices bisect max_retries=3 retry_backoff=1s dead_letter=ticks.dead resume"
        );
        let (source, _) = sse_row(&o, &|_| None);
        assert_eq!(source, "http://localhost:9000/events");
    }
}
