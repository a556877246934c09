//! `#[route(every, ...)]` options.

use syn::Ident;
use worker_rules::options::*;
use worker_rules::{bounds, defaults};

use super::{int, missing, EverySpec};
use crate::diag::{Diag, Slot};
use crate::duration;
use crate::value::{self, KeyValue};

pub(super) fn check(diag: &mut Diag, backend: &Ident, options: &[KeyValue]) -> Option<EverySpec> {
    let mut interval = Slot::default();
    let mut max_concurrency = Slot::default();
    let mut run_on_start = Slot::default();
    let mut timeout = Slot::default();
    for KeyValue { key, value: v } in options {
        match key.to_string().as_str() {
            INTERVAL => diag.set_once(&mut interval, key, |d| {
                d.ok(duration::read_positive(INTERVAL, v))
            }),
            MAX_CONCURRENCY => diag.set_once(&mut max_concurrency, key, |d| {
                int(d, v, &bounds::MAX_CONCURRENCY)
            }),
            RUN_ON_START => diag.set_once(&mut run_on_start, key, |d| {
                d.ok(value::boolean(RUN_ON_START, v))
            }),
            TIMEOUT => diag.set_once(&mut timeout, key, |d| {
                d.ok(duration::read_positive(TIMEOUT, v))
            }),
            _ => diag.unknown_key(key, "`every` routes", EVERY_KEYS),
        }
    }
    if !interval.is_set() {
        missing(diag, backend, "`interval`", "interval = \"30s\"");
    }
    Some(EverySpec {
        interval: interval.value?,
        max_concurrency: max_concurrency.value.unwrap_or(defaults::MAX_CONCURRENCY),
        run_on_start: run_on_start.value.unwrap_or(defaults::RUN_ON_START),
        timeout: timeout.value,
    })
}
