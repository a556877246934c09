//! `#[route(sse, ...)]` options.

use syn::{Ident, LitStr};
use worker_rules::options::*;
use worker_rules::{bounds, names, url};

use super::{connection_name, distinct_names, int, missing, rule, SseSpec};
use crate::diag::{Diag, Slot};
use crate::duration;
use crate::value::{self, KeyValue};

pub(super) fn check(diag: &mut Diag, backend: &Ident, options: &[KeyValue]) -> Option<SseSpec> {
    let mut sse_url = Slot::<String>::default();
    let mut bulk_size = Slot::<u16>::default();
    let mut bulk_flush_interval = Slot::default();
    let mut events = Slot::<Vec<String>>::default();
    let mut connection = Slot::default();
    let mut timeout = Slot::default();
    let mut bisect = Slot::default();
    let mut max_retries = Slot::default();
    let mut retry_backoff = Slot::default();
    let mut dead_letter = Slot::<String>::default();
    let mut resume = Slot::default();
    let mut broker = Slot::<String>::default();
    let mut broker_key = None;
    for KeyValue { key, value: v } in options {
        match key.to_string().as_str() {
            URL => diag.set_once(&mut sse_url, key, |d| {
                let lit = d.ok(value::string(URL, v, "a URL string"))?;
                rule(d, lit.span(), url::sse_url(&lit.value())).then(|| lit.value())
            }),
            BULK_SIZE => diag.set_once(&mut bulk_size, key, |d| int(d, v, &bounds::BULK_SIZE)),
            BULK_FLUSH_INTERVAL => diag.set_once(&mut bulk_flush_interval, key, |d| {
                d.ok(duration::read_positive(BULK_FLUSH_INTERVAL, v))
            }),
            EVENTS => diag.set_once(&mut events, key, |d| event_list(d, v)),
            CONNECTION => diag.set_once(&mut connection, key, |d| connection_name(d, v)),
            TIMEOUT => diag.set_once(&mut timeout, key, |d| {
                d.ok(duration::read_positive(TIMEOUT, v))
            }),
            BISECT => diag.set_once(&mut bisect, key, |d| d.ok(value::boolean(BISECT, v))),
            MAX_RETRIES => {
                diag.set_once(&mut max_retries, key, |d| int(d, v, &bounds::MAX_RETRIES))
            }
            RETRY_BACKOFF => diag.set_once(&mut retry_backoff, key, |d| {
                d.ok(duration::read_positive(RETRY_BACKOFF, v))
            }),
            DEAD_LETTER => diag.set_once(&mut dead_letter, key, |d| {
                let lit = d.ok(value::string(DEAD_LETTER, v, "a queue name string"))?;
                rule(d, lit.span(), names::queue_name(&lit.value())).then(|| lit.value())
            }),
            RESUME => diag.set_once(&mut resume, key, |d| d.ok(value::boolean(RESUME, v))),
            BROKER => {
                broker_key = Some(key.clone());
                diag.set_once(&mut broker, key, |d| connection_name(d, v));
            }
            _ => diag.unknown_key(key, "`sse` routes", SSE_KEYS),
        }
    }
    if !sse_url.is_set() {
        missing(
            diag,
            backend,
            "`url`",
            "url = \"https://example.com/events\"",
        );
    }
    let resume = resume.value.unwrap_or(false);
    if let Some(key) = broker_key.filter(|_| !dead_letter.is_set() && !resume) {
        diag.error(key.span(), worker_rules::route::broker_without_use());
    }
    Some(SseSpec {
        url: sse_url.value?,
        bulk_size: bulk_size.value.unwrap_or(worker_rules::defaults::BULK_SIZE),
        bulk_flush_interval: bulk_flush_interval.value,
        events: events.value.unwrap_or_default(),
        connection: connection.value,
        timeout: timeout.value,
        bisect: bisect.value.unwrap_or(false),
        max_retries: max_retries.value,
        retry_backoff: retry_backoff.value,
        dead_letter: dead_letter.value,
        resume,
        broker: broker.value,
    })
}

/// `events = ["a", "b"]`: non-empty, no empty or repeated name.
fn event_list(diag: &mut Diag, v: &syn::Expr) -> Option<Vec<String>> {
    let list = value::string_list(diag, EVENTS, v)?;
    if list.is_empty() {
        diag.error_spanned(
            v,
            "`events` must name at least one event, or be left out to keep all",
        );
        return None;
    }
    distinct_names(diag, &list, "event", names::event_name)
        .then(|| list.iter().map(LitStr::value).collect())
}
