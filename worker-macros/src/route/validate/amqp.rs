//! `#[route(amqp, ...)]` options.

use syn::{Expr, Ident, LitStr};
use worker_rules::options::*;
use worker_rules::{bounds, defaults, exchange, names, route};

use super::{connection_name, distinct_names, int, missing, rule, AmqpSpec};
use crate::diag::{Diag, Slot};
use crate::duration;
use crate::value::{self, KeyValue};

/// Every option of an `amqp` route, as read so far.
#[derive(Default)]
struct Slots {
    queues: Slot<Vec<LitStr>>,
    exchange: Slot<LitStr>,
    exchange_type: Slot<&'static str>,
    bindings: Slot<Vec<LitStr>>,
    bulk_size: Slot<u16>,
    bulk_flush_interval: Slot<std::time::Duration>,
    on_success: Slot<&'static str>,
    on_exception: Slot<&'static str>,
    on_decode_error: Slot<&'static str>,
    max_concurrency: Slot<u32>,
    max_retries: Slot<u32>,
    retry_backoff: Slot<std::time::Duration>,
    dead_letter: Slot<LitStr>,
    connection: Slot<String>,
    vhost: Slot<String>,
    prefetch: Slot<u16>,
    declare: Slot<bool>,
    quorum: Slot<bool>,
    delivery_limit: Slot<Option<u32>>,
    single_active: Slot<bool>,
    consumer_priority: Slot<i32>,
    max_priority: Slot<u8>,
    broadcast: Slot<bool>,
    timeout: Slot<std::time::Duration>,
    bisect: Slot<bool>,
}

pub(super) fn check(diag: &mut Diag, backend: &Ident, options: &[KeyValue]) -> Option<AmqpSpec> {
    let mut s = Slots::default();
    for KeyValue { key, value } in options {
        read(diag, &mut s, key, value);
    }
    if !s.queues.is_set() {
        missing(diag, backend, "`queues`", "queues = [\"items\"]");
    }
    exchange_rules(diag, &s);
    if let Some(key) = &s.retry_backoff.key {
        rule(
            diag,
            key.span(),
            route::retry_backoff_needs_max_retries(true, s.max_retries.is_set()),
        );
    }
    if let (Some(dl), Some(qs)) = (&s.dead_letter.value, &s.queues.value) {
        let queues: Vec<String> = qs.iter().map(LitStr::value).collect();
        let queues: Vec<&str> = queues.iter().map(String::as_str).collect();
        if !rule(
            diag,
            dl.span(),
            route::dead_letter_not_consumed(&dl.value(), &queues),
        ) {
            return None;
        }
    }
    queue_argument_rules(diag, &s);
    let retries = s.max_retries.value;
    Some(AmqpSpec {
        queues: s.queues.value?.iter().map(LitStr::value).collect(),
        exchange: s.exchange.value.map(|l| l.value()),
        exchange_type: s.exchange_type.value,
        bindings: s
            .bindings
            .value
            .unwrap_or_default()
            .iter()
            .map(LitStr::value)
            .collect(),
        bulk_size: s.bulk_size.value,
        bulk_flush_interval: s.bulk_flush_interval.value,
        on_success: s.on_success.value,
        on_exception: s.on_exception.value,
        on_decode_error: s.on_decode_error.value,
        max_concurrency: s.max_concurrency.value,
        max_retries: retries,
        retry_backoff: s
            .retry_backoff
            .value
            .or(retries.map(|_| defaults::RETRY_BACKOFF)),
        dead_letter: s.dead_letter.value.map(|l| l.value()),
        connection: s.connection.value,
        vhost: s.vhost.value,
        prefetch: s.prefetch.value,
        declare: s.declare.value,
        quorum: s.quorum.value,
        delivery_limit: s.delivery_limit.value,
        single_active: s.single_active.value,
        consumer_priority: s.consumer_priority.value,
        max_priority: s.max_priority.value,
        broadcast: s.broadcast.value,
        timeout: s.timeout.value,
        bisect: s.bisect.value,
    })
}

/// Reads one option into its slot (a second occurrence is an error).
fn read(diag: &mut Diag, s: &mut Slots, key: &Ident, v: &Expr) {
    match key.to_string().as_str() {
        QUEUES => diag.set_once(&mut s.queues, key, |d| queue_list(d, v)),
        EXCHANGE => diag.set_once(&mut s.exchange, key, |d| {
            let lit = d.ok(value::string(EXCHANGE, v, "an exchange name string"))?;
            rule(d, lit.span(), exchange::exchange_name(&lit.value())).then_some(lit)
        }),
        EXCHANGE_TYPE => diag.set_once(&mut s.exchange_type, key, |d| {
            d.ok(value::choice(
                EXCHANGE_TYPE,
                "exchange type",
                v,
                EXCHANGE_TYPES,
            ))
            .map(|(name, _)| name)
        }),
        BINDINGS => diag.set_once(&mut s.bindings, key, |d| value::string_list(d, BINDINGS, v)),
        BULK_SIZE => diag.set_once(&mut s.bulk_size, key, |d| int(d, v, &bounds::BULK_SIZE)),
        BULK_FLUSH_INTERVAL => diag.set_once(&mut s.bulk_flush_interval, key, |d| {
            d.ok(duration::read_positive(BULK_FLUSH_INTERVAL, v))
        }),
        ON_SUCCESS => diag.set_once(&mut s.on_success, key, |d| action(d, ON_SUCCESS, v)),
        ON_EXCEPTION => diag.set_once(&mut s.on_exception, key, |d| action(d, ON_EXCEPTION, v)),
        ON_DECODE_ERROR => diag.set_once(&mut s.on_decode_error, key, |d| decode_action(d, v)),
        MAX_CONCURRENCY => diag.set_once(&mut s.max_concurrency, key, |d| {
            int(d, v, &bounds::MAX_CONCURRENCY)
        }),
        MAX_RETRIES => diag.set_once(&mut s.max_retries, key, |d| int(d, v, &bounds::MAX_RETRIES)),
        RETRY_BACKOFF => diag.set_once(&mut s.retry_backoff, key, |d| {
            d.ok(duration::read_positive(RETRY_BACKOFF, v))
        }),
        DEAD_LETTER => diag.set_once(&mut s.dead_letter, key, |d| {
            let lit = d.ok(value::string(DEAD_LETTER, v, "a queue name string"))?;
            rule(d, lit.span(), names::queue_name(&lit.value())).then_some(lit)
        }),
        CONNECTION => diag.set_once(&mut s.connection, key, |d| connection_name(d, v)),
        VHOST => diag.set_once(&mut s.vhost, key, |d| {
            let lit = d.ok(value::string(VHOST, v, "a vhost name string"))?;
            rule(d, lit.span(), names::vhost(&lit.value())).then(|| lit.value())
        }),
        PREFETCH => diag.set_once(&mut s.prefetch, key, |d| int(d, v, &bounds::PREFETCH)),
        DECLARE => diag.set_once(&mut s.declare, key, |d| d.ok(value::boolean(DECLARE, v))),
        QUEUE_TYPE => diag.set_once(&mut s.quorum, key, |d| {
            d.ok(value::choice(QUEUE_TYPE, "queue type", v, QUEUE_TYPES))
                .map(|(name, _)| name == QUORUM)
        }),
        DELIVERY_LIMIT => diag.set_once(&mut s.delivery_limit, key, |d| {
            d.ok(value::delivery_limit(v))
        }),
        SINGLE_ACTIVE => diag.set_once(&mut s.single_active, key, |d| {
            d.ok(value::boolean(SINGLE_ACTIVE, v))
        }),
        CONSUMER_PRIORITY => diag.set_once(&mut s.consumer_priority, key, |d| {
            int(d, v, &bounds::CONSUMER_PRIORITY)
        }),
        BROADCAST => diag.set_once(&mut s.broadcast, key, |d| {
            d.ok(value::boolean(BROADCAST, v))
        }),
        MAX_PRIORITY => diag.set_once(&mut s.max_priority, key, |d| {
            int(d, v, &bounds::MAX_PRIORITY)
        }),
        TIMEOUT => diag.set_once(&mut s.timeout, key, |d| {
            d.ok(duration::read_positive(TIMEOUT, v))
        }),
        BISECT => diag.set_once(&mut s.bisect, key, |d| d.ok(value::boolean(BISECT, v))),
        _ => diag.unknown_key(key, "`amqp` routes", AMQP_KEYS),
    }
}

/// Options that are arguments of the declared queues need `declare` (and
/// the queue type they apply to), read after every option, in any order.
fn queue_argument_rules(diag: &mut Diag, s: &Slots) {
    let (declare, quorum) = (s.declare.value == Some(true), s.quorum.value == Some(true));
    let broadcast = s.broadcast.value == Some(true);
    if let (Some(key), true) = (&s.broadcast.key, broadcast) {
        broadcast_rules(diag, s, key);
    }
    if let Some(key) = &s.delivery_limit.key {
        rule(
            diag,
            key.span(),
            route::delivery_limit_needs_quorum(quorum, declare),
        );
    }
    if let (Some(key), Some(true)) = (&s.single_active.key, s.single_active.value) {
        rule(
            diag,
            key.span(),
            route::single_active_needs_declare(declare),
        );
    }
    if let Some(key) = &s.max_priority.key {
        // A broadcast route always declares its (classic) queue.
        rule(
            diag,
            key.span(),
            route::max_priority_needs_classic(quorum, declare || broadcast),
        );
    }
}

/// What a `broadcast` route cannot have, each under its option.
fn broadcast_rules(diag: &mut Diag, s: &Slots, broadcast: &Ident) {
    let present = [
        (QUEUE_TYPE, s.quorum.value == Some(true), &s.quorum.key),
        (
            DELIVERY_LIMIT,
            s.delivery_limit.is_set(),
            &s.delivery_limit.key,
        ),
        (
            SINGLE_ACTIVE,
            s.single_active.value == Some(true),
            &s.single_active.key,
        ),
        (MAX_RETRIES, s.max_retries.is_set(), &s.max_retries.key),
        (
            RETRY_BACKOFF,
            s.retry_backoff.is_set(),
            &s.retry_backoff.key,
        ),
    ];
    let set: Vec<&str> = present.iter().filter(|p| p.1).map(|p| p.0).collect();
    let queues = s.queues.value.as_ref().map_or(1, Vec::len);
    for (option, message) in route::broadcast_conflicts(&set, queues, s.exchange.is_set()) {
        let key = match option.as_str() {
            QUEUES => s.queues.key.as_ref(),
            BROADCAST => Some(broadcast),
            other => present
                .iter()
                .find(|p| p.0 == other)
                .and_then(|p| p.2.as_ref()),
        };
        diag.error(key.unwrap_or(broadcast).span(), message);
    }
}

/// `exchange_type` and `bindings` need `exchange`; the bindings suit the
/// exchange's type (read after every option, in any order).
fn exchange_rules(diag: &mut Diag, s: &Slots) {
    let Some(exchange) = &s.exchange.key else {
        for (slot_key, option) in [
            (&s.exchange_type.key, EXCHANGE_TYPE),
            (&s.bindings.key, BINDINGS),
        ] {
            if let Some(key) = slot_key {
                diag.error(key.span(), exchange::needs_exchange(option));
            }
        }
        return;
    };
    let kind = s.exchange_type.value.unwrap_or(TOPIC);
    let list = s.bindings.value.as_deref().unwrap_or_default();
    let at = s.bindings.key.as_ref().unwrap_or(exchange);
    if rule(diag, at.span(), exchange::binding_count(kind, list.len())) {
        distinct_names(diag, list, "binding", |b| exchange::binding(kind, b));
    }
}

fn action(diag: &mut Diag, key: &str, v: &Expr) -> Option<&'static str> {
    diag.ok(value::choice(key, "action", v, ACTIONS))
        .map(|(a, _)| a)
}

fn decode_action(diag: &mut Diag, v: &Expr) -> Option<&'static str> {
    if let Some(ident) = value::bare_ident(v) {
        if !rule(
            diag,
            ident.span(),
            route::decode_error_action(&ident.to_string()),
        ) {
            return None;
        }
    }
    diag.ok(value::choice(
        ON_DECODE_ERROR,
        "action",
        v,
        DECODE_ERROR_ACTIONS,
    ))
    .map(|(a, _)| a)
}

/// `["a", "b"]`: non-empty, valid names, no duplicates.
fn queue_list(diag: &mut Diag, v: &Expr) -> Option<Vec<LitStr>> {
    let list = value::string_list(diag, QUEUES, v)?;
    if let Err(e) = route::non_empty(QUEUES, "queue", list.len()) {
        diag.error_spanned(v, e);
        return None;
    }
    distinct_names(diag, &list, "queue", names::queue_name).then_some(list)
}
