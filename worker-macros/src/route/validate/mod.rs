//! Option rules of each backend: types, ranges, required and conflicting
//! options. Every mistake is reported under its token; nothing stops at the
//! first error. The rules themselves (bounds, names, grammars, messages)
//! are `worker_rules`', which the runtime applies to routes built by hand.

mod amqp;
mod cron;
mod every;
mod http;
mod sse;
#[cfg(test)]
mod tests;

use std::time::Duration;

use proc_macro2::Span;
use syn::{Expr, Ident, LitStr};
use worker_rules::bounds::Bound;
use worker_rules::names;
use worker_rules::options::CONNECTION;

use super::parse::{Backend, RouteAttr};
use crate::diag::{Diag, Slot};
use crate::value;

/// The validated options of a route.
pub(crate) enum Spec {
    /// `amqp`.
    Amqp(AmqpSpec),
    /// `every`.
    Every(EverySpec),
    /// `cron`.
    Cron(CronSpec),
    /// `http`.
    Http(HttpSpec),
    /// `sse`.
    Sse(SseSpec),
}

/// `http` options: upper-case methods and path templates, as written.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct HttpSpec {
    pub methods: Vec<&'static str>,
    pub paths: Vec<String>,
}

/// `sse` options; `bulk_size` defaults to 1, the flush interval to the
/// runtime's.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct SseSpec {
    pub url: String,
    pub bulk_size: u16,
    pub bulk_flush_interval: Option<Duration>,
    pub events: Vec<String>,
    pub connection: Option<String>,
    pub timeout: Option<Duration>,
    pub bisect: bool,
    pub max_retries: Option<u32>,
    pub retry_backoff: Option<Duration>,
    pub dead_letter: Option<String>,
    pub resume: bool,
    pub broker: Option<String>,
}

/// `amqp` options; `None` keeps the runtime default (`AmqpOptions::new`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct AmqpSpec {
    pub queues: Vec<String>,
    pub exchange: Option<String>,
    pub exchange_type: Option<&'static str>,
    pub bindings: Vec<String>,
    pub bulk_size: Option<u16>,
    pub bulk_flush_interval: Option<Duration>,
    pub on_success: Option<&'static str>,
    pub on_exception: Option<&'static str>,
    pub on_decode_error: Option<&'static str>,
    pub max_concurrency: Option<u32>,
    pub max_retries: Option<u32>,
    /// Set to the default backoff when only `max_retries` is given.
    pub retry_backoff: Option<Duration>,
    pub dead_letter: Option<String>,
    pub connection: Option<String>,
    pub vhost: Option<String>,
    pub prefetch: Option<u16>,
    pub declare: Option<bool>,
    pub quorum: Option<bool>,
    /// `Some(None)`: unlimited.
    pub delivery_limit: Option<Option<u32>>,
    pub single_active: Option<bool>,
    pub consumer_priority: Option<i32>,
    pub max_priority: Option<u8>,
    pub broadcast: Option<bool>,
    pub timeout: Option<Duration>,
    pub bisect: Option<bool>,
}

/// `every` options.
#[derive(Debug, PartialEq)]
pub(crate) struct EverySpec {
    pub interval: Duration,
    pub max_concurrency: u32,
    pub run_on_start: bool,
    pub timeout: Option<Duration>,
}

/// `cron` options.
#[derive(Debug, PartialEq)]
pub(crate) struct CronSpec {
    pub schedule: String,
    pub tz: String,
    pub max_concurrency: u32,
    pub singleton: bool,
    pub catch_up: bool,
    pub connection: Option<String>,
    pub timeout: Option<Duration>,
}

/// Checks the options of `attr`; `None` if any is wrong (errors in `diag`).
pub(crate) fn options(diag: &mut Diag, attr: &RouteAttr) -> Option<Spec> {
    let before = diag.error_count();
    let (backend, opts) = (&attr.backend_ident, &attr.options[..]);
    let spec = match attr.backend {
        Backend::Amqp => amqp::check(diag, backend, opts).map(Spec::Amqp),
        Backend::Every => every::check(diag, backend, opts).map(Spec::Every),
        Backend::Cron => cron::check(diag, backend, opts).map(Spec::Cron),
        Backend::Http => http::check(diag, backend, opts).map(Spec::Http),
        Backend::Sse => sse::check(diag, backend, opts).map(Spec::Sse),
    };
    spec.filter(|_| diag.error_count() == before)
}

/// An integer option within its rule's bound, converted to `T`.
fn int<T: TryFrom<i128>>(diag: &mut Diag, v: &Expr, bound: &Bound) -> Option<T> {
    diag.ok(value::int(v, bound))
        .and_then(|n| T::try_from(n).ok())
}

/// Applies a rule of `worker_rules`, reporting its message at `span`.
fn rule(diag: &mut Diag, span: Span, result: Result<(), String>) -> bool {
    match result {
        Ok(()) => true,
        Err(message) => {
            diag.error(span, message);
            false
        }
    }
}

fn missing(diag: &mut Diag, backend: &Ident, key: &str, example: &str) {
    diag.error(
        backend.span(),
        format_args!("missing required option {key} of `{backend}` routes, e.g. `{example}`"),
    );
}

/// `a` and `b` are alternatives: the second one written is the error.
fn exclusive<T>(diag: &mut Diag, other: &Slot<T>, key: &Ident) -> bool {
    match &other.key {
        Some(first) => {
            diag.error(
                key.span(),
                format_args!("`{key}` cannot be combined with `{first}`, use one of them"),
            );
            false
        }
        None => true,
    }
}

/// `connection = "name"`, by the connection-name rule.
fn connection_name(diag: &mut Diag, v: &Expr) -> Option<String> {
    let lit: LitStr = diag.ok(value::string(CONNECTION, v, "a connection name string"))?;
    rule(diag, lit.span(), names::connection_name(&lit.value())).then(|| lit.value())
}

/// Checks each name of a list by its rule, then that none repeats (`item`
/// names them in the message: `queue`, `event`); whether all passed.
fn distinct_names(
    diag: &mut Diag,
    list: &[LitStr],
    item: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> bool {
    let mut ok = true;
    let mut seen = std::collections::HashSet::new();
    for name in list {
        if !rule(diag, name.span(), check(&name.value())) {
            ok = false;
        } else if !seen.insert(name.value()) {
            diag.error(
                name.span(),
                worker_rules::route::duplicate(item, &name.value()),
            );
            ok = false;
        }
    }
    ok
}
