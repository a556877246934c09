//! `#[route(cron, ...)]` options.

use syn::{Ident, LitStr};
use worker_rules::options::*;
use worker_rules::{bounds, cron, defaults};

use super::{connection_name, int, missing, rule, CronSpec};
use crate::diag::{Diag, Slot};
use crate::duration;
use crate::value::{self, KeyValue};

pub(super) fn check(diag: &mut Diag, backend: &Ident, options: &[KeyValue]) -> Option<CronSpec> {
    let mut schedule: Slot<String> = Slot::default();
    let mut tz: Slot<String> = Slot::default();
    let mut max_concurrency = Slot::default();
    let mut singleton = Slot::default();
    let mut catch_up = Slot::default();
    let mut connection = Slot::default();
    let mut timeout = Slot::default();
    for KeyValue { key, value: v } in options {
        match key.to_string().as_str() {
            SCHEDULE => diag.set_once(&mut schedule, key, |d| {
                let lit: LitStr = d.ok(value::string(SCHEDULE, v, "a cron schedule string"))?;
                let checked = cron::schedule(&lit.value()).map(|_| ());
                rule(d, lit.span(), checked).then(|| lit.value())
            }),
            TZ => diag.set_once(&mut tz, key, |d| {
                let lit: LitStr = d.ok(value::string(TZ, v, "an IANA time zone name string"))?;
                let checked = cron::time_zone(&lit.value()).map(|_| ());
                rule(d, lit.span(), checked).then(|| lit.value())
            }),
            MAX_CONCURRENCY => diag.set_once(&mut max_concurrency, key, |d| {
                int(d, v, &bounds::MAX_CONCURRENCY)
            }),
            SINGLETON => diag.set_once(&mut singleton, key, |d| d.ok(value::boolean(SINGLETON, v))),
            CATCH_UP => diag.set_once(&mut catch_up, key, |d| d.ok(value::boolean(CATCH_UP, v))),
            CONNECTION => diag.set_once(&mut connection, key, |d| connection_name(d, v)),
            TIMEOUT => diag.set_once(&mut timeout, key, |d| {
                d.ok(duration::read_positive(TIMEOUT, v))
            }),
            _ => diag.unknown_key(key, "`cron` routes", CRON_KEYS),
        }
    }
    if !schedule.is_set() {
        missing(diag, backend, "`schedule`", "schedule = \"0 */5 * * * *\"");
    }
    Some(CronSpec {
        schedule: schedule.value?,
        tz: tz.value.unwrap_or_else(|| defaults::CRON_TZ.to_owned()),
        max_concurrency: max_concurrency.value.unwrap_or(defaults::MAX_CONCURRENCY),
        singleton: singleton.value.unwrap_or(false),
        catch_up: catch_up.value.unwrap_or(false),
        connection: connection.value,
        timeout: timeout.value,
    })
}
