//! The options of each backend as a route record carries them, and the
//! rules they obey ([`worker_rules`]): the macros check them at compile
//! time, [`problems`](AmqpOptions::problems) checks records built by hand.

use std::collections::HashSet;
use std::time::Duration;

use worker_rules::{bounds, defaults, names, options as opt, route};

use crate::broker::{Binding, DeliveryLimit, ExchangeKind};
use crate::settlement::Action;

/// Options of an `amqp` route, as validated by the macro.
#[derive(Debug, Clone, Copy)]
pub struct AmqpOptions {
    /// Queues consumed by the route (non-empty, distinct).
    pub queues: &'static [&'static str],
    /// The exchange the queues are bound to; `None`: only the default
    /// exchange reaches them (by queue name).
    pub exchange: Option<&'static str>,
    /// The exchange's type (with `declare`, what it is declared as).
    pub exchange_type: ExchangeKind,
    /// Every queue's bindings to `exchange`, in the route's syntax:
    /// patterns (topic), keys (direct), `header=value` pairs joined by `&`
    /// or `|` (headers), none (fanout).
    pub bindings: &'static [&'static str],
    /// Messages per batch (before clamping to the prefetch).
    pub bulk_size: u16,
    /// Flush deadline of a partial batch; `None` uses `WORKER_FLUSH_TIMEOUT`.
    pub bulk_flush_interval: Option<Duration>,
    /// Action when the handler succeeds.
    pub on_success: Action,
    /// Action when the handler fails or panics.
    pub on_exception: Action,
    /// Action for a body that does not decode (never `Requeue`).
    pub on_decode_error: Action,
    /// Batches in flight at once.
    pub max_concurrency: u32,
    /// Retries before dead-lettering; `None` means requeue in place.
    pub max_retries: Option<u32>,
    /// Delay of the first retry, doubled for each further attempt.
    pub retry_backoff: Option<Duration>,
    /// Queue that rejected and exhausted messages are published to.
    pub dead_letter: Option<&'static str>,
    /// Named connection (`WORKER_AMQP_<NAME>_URL`); `None` is the default one.
    pub connection: Option<&'static str>,
    /// Vhost override.
    pub vhost: Option<&'static str>,
    /// Per-route prefetch override.
    pub prefetch: Option<u16>,
    /// Declare the queues (durable) at startup instead of only checking them.
    pub declare: bool,
    /// Declare them as quorum queues.
    pub quorum: bool,
    /// The quorum queues' `x-delivery-limit` (with `declare` and `quorum`).
    pub delivery_limit: Option<DeliveryLimit>,
    /// Declare the queues with `x-single-active-consumer`: of all the
    /// consumers of a queue (across processes) one is active, the others
    /// stand by until it goes (with `declare`).
    pub single_active: bool,
    /// The consumer's priority (`x-priority`): while a consumer of higher
    /// priority has room in its prefetch window, the broker delivers to
    /// it; with `single_active`, the active consumer is the one of highest
    /// priority (RabbitMQ 4.0 and later).
    pub consumer_priority: Option<i32>,
    /// Declare the (classic) queues with `x-max-priority`: messages are
    /// delivered by their priority, highest first, priorities above this
    /// counting as this (with `declare`; quorum queues order by priority
    /// without it).
    pub max_priority: Option<u8>,
    /// Each process consumes a queue of its own (`<queue>.<host>.<pid>.<nonce>`,
    /// exclusive and auto-delete, declared on every connection) bound to
    /// `exchange` with the route's bindings: every running process gets
    /// every message routed to them (cache invalidation, configuration
    /// reloads). What is published while a process is disconnected does
    /// not reach it. `declare` then declares the exchange only.
    pub broadcast: bool,
    /// Longest a handler run may take; past it the run is cancelled and
    /// counts as an exception.
    pub timeout: Option<Duration>,
    /// On an exception, re-run the batch in halves to find the failing
    /// messages; only those get `on_exception` (handlers must be idempotent).
    pub bisect: bool,
    /// The JSON schema of the handler's message type (`topology --format
    /// asyncapi`); `None`: an open schema.
    pub payload_schema: Option<fn() -> serde_json::Value>,
}

impl AmqpOptions {
    /// How a route with `declare = true` declares its queues. With a
    /// `delivery_limit`, the route's `dead_letter` queue is also the queue's
    /// broker-side dead-letter target, so that messages past the limit land
    /// there instead of being dropped. (Only then: adding arguments to the
    /// declaration of an existing queue would be refused by the broker.)
    pub(crate) fn declared_queue(&self) -> crate::broker::QueueOptions {
        if self.broadcast {
            return crate::broker::QueueOptions {
                exclusive: true,
                auto_delete: true,
                max_priority: self.max_priority,
                ..crate::broker::QueueOptions::default()
            };
        }
        let broker_dead_letter = self.dead_letter.filter(|_| self.delivery_limit.is_some());
        crate::broker::QueueOptions {
            quorum: self.quorum,
            delivery_limit: self.delivery_limit,
            single_active: self.single_active,
            max_priority: self.max_priority,
            dead_letter_exchange: broker_dead_letter.map(|_| String::new()),
            dead_letter_routing_key: broker_dead_letter.map(str::to_owned),
            ..crate::broker::QueueOptions::durable()
        }
    }

    /// The route's queues that exist on the broker under their own name,
    /// shared by every process: `queues`, or none for a `broadcast` route
    /// (each process declares its own, which definitions, `check` and
    /// drift leave out).
    pub fn shared_queues(&self) -> &'static [&'static str] {
        if self.broadcast {
            &[]
        } else {
            self.queues
        }
    }

    /// The bindings each queue of the route gets (empty without an
    /// exchange; one without key for a fanout exchange).
    pub fn queue_bindings(&self) -> Vec<Binding> {
        let Some(exchange) = self.exchange else {
            return Vec::new();
        };
        if self.exchange_type == ExchangeKind::Fanout {
            return vec![Binding::new(exchange, "")];
        }
        self.bindings
            .iter()
            .map(|b| Binding::of_route(exchange, self.exchange_type, b))
            .collect()
    }

    /// The documented defaults, with the given queues.
    pub const fn new(queues: &'static [&'static str]) -> Self {
        AmqpOptions {
            queues,
            exchange: None,
            exchange_type: ExchangeKind::Topic,
            bindings: &[],
            bulk_size: defaults::BULK_SIZE,
            bulk_flush_interval: None,
            on_success: Action::Ack,
            on_exception: Action::Requeue,
            on_decode_error: Action::Reject,
            max_concurrency: defaults::MAX_CONCURRENCY,
            max_retries: None,
            retry_backoff: None,
            dead_letter: None,
            connection: None,
            vhost: None,
            prefetch: None,
            declare: false,
            quorum: false,
            delivery_limit: None,
            single_active: false,
            consumer_priority: None,
            max_priority: None,
            broadcast: false,
            timeout: None,
            bisect: false,
            payload_schema: None,
        }
    }

    /// The delay of the first retry: `retry_backoff`, or the default when
    /// only `max_retries` is set.
    pub fn retry_backoff_or_default(&self) -> Duration {
        self.retry_backoff.unwrap_or(defaults::RETRY_BACKOFF)
    }

    /// What a `broadcast` record cannot have (none for other routes).
    fn broadcast_problems(&self) -> Vec<String> {
        if !self.broadcast {
            return Vec::new();
        }
        let present = [
            (opt::QUEUE_TYPE, self.quorum),
            (opt::DELIVERY_LIMIT, self.delivery_limit.is_some()),
            (opt::SINGLE_ACTIVE, self.single_active),
            (opt::MAX_RETRIES, self.max_retries.is_some()),
            (opt::RETRY_BACKOFF, self.retry_backoff.is_some()),
        ];
        let set: Vec<&str> = present.iter().filter(|p| p.1).map(|p| p.0).collect();
        route::broadcast_conflicts(&set, self.queues.len(), self.exchange.is_some())
            .into_iter()
            .map(|(_, message)| message)
            .collect()
    }

    /// Every rule `#[route(amqp)]` checks at compile time, for a record
    /// built by hand: the messages the macro would give, empty when valid.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut keep = |r: Result<(), String>| out.extend(r.err());
        keep(route::non_empty(opt::QUEUES, "queue", self.queues.len()));
        let mut seen = HashSet::new();
        for q in self.queues {
            keep(names::queue_name(q));
            if !seen.insert(*q) {
                keep(Err(route::duplicate("queue", q)));
            }
        }
        keep(bound(&bounds::BULK_SIZE, self.bulk_size));
        keep(bound(&bounds::MAX_CONCURRENCY, self.max_concurrency));
        if let Some(p) = self.prefetch {
            keep(bound(&bounds::PREFETCH, p));
        }
        if let Some(d) = self.bulk_flush_interval {
            keep(route::positive(opt::BULK_FLUSH_INTERVAL, d));
        }
        if let Some(d) = self.retry_backoff {
            keep(route::positive(opt::RETRY_BACKOFF, d));
        }
        if let Some(d) = self.timeout {
            keep(route::positive(opt::TIMEOUT, d));
        }
        keep(route::decode_error_action(self.on_decode_error.name()));
        keep(route::retry_backoff_needs_max_retries(
            self.retry_backoff.is_some(),
            self.max_retries.is_some(),
        ));
        if let Some(limit) = self.delivery_limit {
            if let Some(n) = limit.limit() {
                keep(bound(&bounds::DELIVERY_LIMIT, n));
            }
            keep(route::delivery_limit_needs_quorum(
                self.quorum,
                self.declare,
            ));
        }
        if self.single_active {
            keep(route::single_active_needs_declare(self.declare));
        }
        if let Some(n) = self.max_priority {
            keep(bound(&bounds::MAX_PRIORITY, n));
            keep(route::max_priority_needs_classic(
                self.quorum,
                self.declare || self.broadcast,
            ));
        }
        for message in self.broadcast_problems() {
            keep(Err(message));
        }
        if let Some(dl) = self.dead_letter {
            keep(names::queue_name(dl));
            keep(route::dead_letter_not_consumed(dl, self.queues));
        }
        if let Some(c) = self.connection {
            keep(names::connection_name(c));
        }
        if let Some(v) = self.vhost {
            keep(names::vhost(v));
        }
        out.extend(worker_rules::exchange::problems(
            self.exchange,
            self.exchange_type.name(),
            self.bindings,
        ));
        out
    }
}

fn bound(b: &bounds::Bound, value: impl Into<i128>) -> Result<(), String> {
    b.check(value.into()).map(|_| ())
}

/// Options of an `every` route.
#[derive(Debug, Clone, Copy)]
pub struct EveryOptions {
    /// Period between runs.
    pub interval: Duration,
    /// Runs in flight at once; a tick finding them all busy is skipped.
    pub max_concurrency: u32,
    /// Run once immediately at startup.
    pub run_on_start: bool,
    /// Longest a run may take; past it the run is cancelled and counted.
    pub timeout: Option<Duration>,
}

impl EveryOptions {
    /// The documented defaults, with the given interval.
    pub const fn new(interval: Duration) -> Self {
        EveryOptions {
            interval,
            max_concurrency: defaults::MAX_CONCURRENCY,
            run_on_start: defaults::RUN_ON_START,
            timeout: None,
        }
    }

    /// Every rule `#[route(every)]` checks at compile time, for a record
    /// built by hand.
    pub fn problems(&self) -> Vec<String> {
        [
            route::positive(opt::INTERVAL, self.interval),
            bound(&bounds::MAX_CONCURRENCY, self.max_concurrency),
            self.timeout
                .map_or(Ok(()), |d| route::positive(opt::TIMEOUT, d)),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect()
    }
}

/// Options of a `cron` route.
#[derive(Debug, Clone, Copy)]
pub struct CronOptions {
    /// Six fields, seconds first (`0 */5 * * * *`).
    pub schedule: &'static str,
    /// IANA time zone of the schedule's wall clock.
    pub tz: &'static str,
    /// Runs in flight at once; a slot finding them all busy is skipped.
    pub max_concurrency: u32,
    /// One process of all those running the route fires each slot,
    /// coordinated through the broker of `connection`.
    pub singleton: bool,
    /// At startup, fire once for the latest slot missed while the route
    /// ran nowhere (the last fired slot is kept on the broker of
    /// `connection`).
    pub catch_up: bool,
    /// Named connection of `singleton` and `catch_up`; `None` is the
    /// default one.
    pub connection: Option<&'static str>,
    /// Longest a run may take; past it the run is cancelled and counted.
    pub timeout: Option<Duration>,
}

impl CronOptions {
    /// The documented defaults, with the given schedule.
    pub const fn new(schedule: &'static str) -> Self {
        CronOptions {
            schedule,
            tz: defaults::CRON_TZ,
            max_concurrency: defaults::MAX_CONCURRENCY,
            singleton: false,
            catch_up: false,
            connection: None,
            timeout: None,
        }
    }

    /// The slots of the schedule (`None` if it or the zone is invalid).
    pub fn slots(&self) -> Option<worker_rules::cron::Slots> {
        let cron = worker_rules::cron::schedule(self.schedule).ok()?;
        let tz = worker_rules::cron::time_zone(self.tz).ok()?;
        Some(worker_rules::cron::Slots::new(cron, tz))
    }

    /// Every rule `#[route(cron)]` checks at compile time, for a record
    /// built by hand.
    pub fn problems(&self) -> Vec<String> {
        [
            worker_rules::cron::schedule(self.schedule).map(|_| ()),
            worker_rules::cron::time_zone(self.tz).map(|_| ()),
            bound(&bounds::MAX_CONCURRENCY, self.max_concurrency),
            self.timeout
                .map_or(Ok(()), |d| route::positive(opt::TIMEOUT, d)),
            self.connection.map_or(Ok(()), names::connection_name),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_options_break_the_macros_rules() {
        assert!(AmqpOptions::new(&["items"]).problems().is_empty());
        let bad = AmqpOptions {
            bulk_size: 0,
            max_concurrency: 0,
            on_decode_error: Action::Requeue,
            retry_backoff: Some(Duration::from_secs(1)),
            dead_letter: Some("items"),
            connection: Some("EU"),
            ..AmqpOptions::new(&["items", "items", "amq.x"])
        };
        assert_eq!(
            bad.problems(),
            [
                "duplicate queue `items`",
                "queue name `amq.x` uses the `amq.` prefix, which the broker reserves",
                "`bulk_size` must be in 1..=65535, got `0`",
                "`max_concurrency` must be at least 1, got `0`",
                "`on_decode_error = requeue` would redeliver a message that can never decode, in an endless loop; use `reject` (with `dead_letter` to keep it) or `ack`",
                "`retry_backoff` has no effect without `max_retries`, add `max_retries = 3` or remove it",
                "`dead_letter` queue `items` is consumed by this route, dead-lettered messages would loop",
                "invalid connection name `EU`, expected a non-empty name of `a-z`, `0-9` and `_` (configured as `WORKER_AMQP_<NAME>_URL`)",
            ]
        );
        let every = EveryOptions {
            interval: Duration::ZERO,
            max_concurrency: 1,
            run_on_start: true,
            timeout: None,
        };
        assert_eq!(every.problems(), ["`interval` must be greater than zero"]);
        let bound = AmqpOptions {
            exchange: Some("events"),
            bindings: &["order.*", "order*"],
            ..AmqpOptions::new(&["items"])
        };
        assert_eq!(bound.problems().len(), 1, "{:?}", bound.problems());
        assert_eq!(bound.queue_bindings()[0], Binding::new("events", "order.*"));
        let fanout = AmqpOptions {
            exchange: Some("fan"),
            exchange_type: ExchangeKind::Fanout,
            ..AmqpOptions::new(&["items"])
        };
        assert!(fanout.problems().is_empty());
        assert_eq!(fanout.queue_bindings(), [Binding::new("fan", "")]);
    }
}
