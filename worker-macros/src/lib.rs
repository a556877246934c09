//! Attribute macros of the `worker` framework: `#[route]`, `#[on_startup]`,
//! `#[on_shutdown]` and `main!`.
//!
//! This file only holds the `proc_macro` shims; the logic works on
//! `proc_macro2` (parse -> validate -> expand) so it is unit-tested. Each
//! macro emits the user's fn unchanged, a hidden adapter that calls the
//! runtime's traits, and one `inventory::submit!` of a const record, all
//! through absolute `::worker::__private_<version>` paths (`crate = "path"` names
//! another path, for a renamed dependency). The option rules are
//! `worker_rules`', shared with the runtime. Mistakes are reported under the
//! offending token, all of them in one compile.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
mod declare;
mod diag;
mod duration;
mod hook;
mod krate;
mod main_macro;
mod route;
mod signature;
mod value;

use proc_macro::TokenStream;

/// Registers an `async fn` as a route of a backend.
///
/// The first argument is the backend, one of `amqp` (RabbitMQ or embedded
/// queues, in batches), `cron` (a cron schedule), `every` (a recurring
/// task), `http` (HTTP requests) and `sse` (a Server-Sent-Events stream, in
/// batches); then `key = value` options, all checked at compile time, every
/// mistake reported under its token in one compile:
///
/// ```
/// use worker::{route, App, Message};
/// # #[derive(serde::Deserialize)]
/// # struct Item { id: u64 }
///
/// #[route(amqp, queues = ["items"], bulk_size = 2014, bulk_flush_interval = "5s",
///         on_success = ack, on_exception = reject)]
/// async fn check(msgs: Vec<Message<Item>>) -> Result<(), worker::Error> { Ok(()) }
///
/// #[route(every, interval = "30s")]
/// async fn report(app: App) {}
///
/// #[route(cron, schedule = "0 0 9 * * MON-FRI", tz = "Europe/Madrid", singleton = true)]
/// async fn morning_summary(app: App) {}
/// # fn main() {}
/// ```
///
/// # `amqp`
///
/// - `queues = ["a", "b"]`: required, non-empty, distinct, no `amq.` prefix.
/// - `exchange = "events"`: the queues are bound to this exchange, of
///   `exchange_type = topic|direct|fanout|headers` (default `topic`), with
///   `bindings = [...]`: topic patterns (`"order.*"`, `"invoice.#"`),
///   direct keys, header matches (`"format=pdf & type=report"`: all pairs;
///   `"a=1 | b=2"`: any), none for `fanout`. With `declare = true` the
///   exchange (durable) and the bindings are declared, else checked.
/// - `bulk_size`: 1..=65535, default 1; a batch holds at most the prefetch.
/// - `bulk_flush_interval`: a duration string (`"500ms"`, `"5s"`); a
///   partial batch is handed over this long after its first message
///   (default `WORKER_FLUSH_TIMEOUT`, 60 s).
/// - `on_success`, `on_exception`: `ack`, `reject` or `requeue` (defaults
///   `ack` and `requeue`); `on_decode_error`: `reject` or `ack` (default
///   `reject`, never a requeue loop).
/// - `max_concurrency`: batches in flight, >= 1, default 1.
/// - `max_retries`, `retry_backoff`: retries through delay queues before
///   `dead_letter`; `retry_backoff` is the first delay, doubled each time,
///   and needs `max_retries` (which alone starts at 1 s).
/// - `dead_letter = "queue"`: where rejected and exhausted messages go.
/// - `connection = "name"` (`WORKER_AMQP_<NAME>_URL`), `vhost = "name"`,
///   `prefetch` (1..=65535).
/// - `declare = true|false`: declare the queues (durable) instead of only
///   checking them; `queue_type = classic|quorum` (with `declare`);
///   `delivery_limit = N` (>= 1, a declared quorum queue's
///   `x-delivery-limit`) or `delivery_limit = "unlimited"` (RabbitMQ 4.0
///   and later give quorum queues a limit of 20 otherwise);
///   `single_active = true` (`x-single-active-consumer`: one consumer of
///   many is active; needs `declare = true`).
/// - `consumer_priority = N` (a signed 32-bit integer, `x-priority`): the
///   broker delivers to the consumers of highest priority while they have
///   room; with `single_active`, the consumer of highest priority is the
///   active one (RabbitMQ 4.0 and later).
/// - `max_priority = N` (1 to 255, with `declare = true`, classic queues):
///   the queues' `x-max-priority`; messages published with a priority
///   (`Properties::with_priority`) are delivered highest first, priorities
///   above `N` counting as `N`. Quorum queues order by priority without it
///   (RabbitMQ 4.0 and later; 0 to 31 in 4.3) and RabbitMQ refuses the
///   argument on them, so it is a compile error there.
/// - `broadcast = true` (with `exchange`): each process consumes a queue
///   of its own, `<queue>.<host>.<pid>.<nonce>`, exclusive and
///   auto-delete, bound to the exchange with the route's bindings; every
///   running process gets every message. `queue_type`, `delivery_limit`,
///   `single_active`, `max_retries` and `retry_backoff` do not apply.
/// - `timeout`: the longest a handler run may take; past it the run is
///   cancelled and counts as an exception.
/// - `bisect = true`: a failed batch is re-run in halves to find the
///   messages that fail; only those get `on_exception`, or the action of a
///   typed error (`Error::reject`, ...), which is bisected like any other.
///
/// The first argument of an `amqp` handler is `Vec<Message<T>>`; further
/// arguments are extractors: `App`, `State<T>` (patterns like
/// `State(db): State<Db>` work) or `Publisher`. A handler returns `()` or
/// `Result<(), E>`.
///
/// # `every` and `cron`
///
/// `every`: `interval = "30s"` (required, > 0), `max_concurrency` (default
/// 1: a tick that finds the previous runs going is skipped and counted),
/// `run_on_start` (default `true`), `timeout`.
///
/// `cron`: `schedule = "0 */5 * * * *"` (required; six fields, seconds
/// first), `tz = "Europe/Madrid"` (an IANA zone, default `UTC`; each
/// wall-clock slot fires once across DST changes), `max_concurrency`,
/// `timeout`, `singleton = true` (one process of many fires each slot,
/// through a lock on the broker of `connection`), `catch_up = true` (at
/// startup, a slot missed while the route ran nowhere fires once; the last
/// fired slot is kept on that broker), `connection = "name"`. Every slot
/// that does not run is logged at `warn` with its reason and counted.
///
/// The arguments of `every` and `cron` handlers are extractors.
///
/// # `http`
///
/// `method = GET|POST|PUT|PATCH|DELETE|HEAD` (or `methods = [GET, POST]`)
/// and `path = "/items/{id}"` (or `paths = [..]`), the path grammar checked
/// at compile time. The handler is an axum handler with state `App`: its
/// arguments are axum extractors (re-exported under `worker::http`) or
/// `State<T>`, and it returns any `IntoResponse`.
///
/// # `sse`
///
/// - `url`: required, `http://` or `https://`; `connection = "name"` names
///   its stream settings (`WORKER_SSE_<NAME>_URL`, `_HEADERS`).
/// - `bulk_size` (1..=65535, default 1), `bulk_flush_interval`,
///   `events = ["name"]` (a filter), `timeout`, `bisect = true`.
/// - At least once: a failed batch is run again with `max_retries` (default:
///   until it succeeds) and `retry_backoff` (default 1 s, doubled, at most a
///   minute), the stream waiting meanwhile; then its events go to
///   `dead_letter = "queue"`, or are dropped with an error line.
/// - `resume = true`: the last settled event id is kept on a broker, and a
///   restarted process resumes after it.
/// - `broker = "name"`: the amqp connection of `dead_letter` and `resume`
///   (default: the default connection).
///
/// The handler's first argument is `Vec<worker::sse::Event<T>>`, further
/// arguments are `App`, `State<T>` or `Publisher`.
///
/// ```
/// use worker::http::{Json, Path};
/// use worker::route;
/// use worker::sse::Event;
/// # #[derive(serde::Serialize)]
/// # struct Item { id: u64 }
/// # #[derive(serde::Deserialize)]
/// # struct Price { cents: u64 }
///
/// #[route(http, method = GET, path = "/items/{id}")]
/// async fn get_item(Path(id): Path<u64>) -> Json<Item> { Json(Item { id }) }
///
/// #[route(sse, url = "https://example.com/events", bulk_size = 10, max_retries = 3,
///         dead_letter = "prices.dead")]
/// async fn on_events(events: Vec<Event<Price>>) {}
/// # fn main() {}
/// ```
///
/// # Every backend
///
/// Every attribute (and `main!`) also takes `crate = "path"`: where the
/// generated code finds the framework, `worker` by default, for a renamed
/// dependency (`wf = { package = "worker-framework", .. }` and
/// `crate = "wf"`).
#[proc_macro_attribute]
pub fn route(attr: TokenStream, item: TokenStream) -> TokenStream {
    route::route(attr.into(), item.into()).into()
}

/// Registers an `async fn` run before any consumer starts; `order = N`
/// (an `i32`, default 0) sorts hooks, then their names. Arguments are
/// extractors (`App`, `State<T>`, `Publisher`); an `Err` stops startup.
#[proc_macro_attribute]
pub fn on_startup(attr: TokenStream, item: TokenStream) -> TokenStream {
    hook::hook(hook::HookKind::Startup, attr.into(), item.into()).into()
}

/// Registers an `async fn` run after consumers have drained; options as
/// [`macro@on_startup`].
#[proc_macro_attribute]
pub fn on_shutdown(attr: TokenStream, item: TokenStream) -> TokenStream {
    hook::hook(hook::HookKind::Shutdown, attr.into(), item.into()).into()
}

/// Declares a queue that the application publishes to and no route of its
/// own consumes (another service's input), at startup, before any
/// `#[on_startup]` hook runs. It is durable; options: `queue_type =
/// classic|quorum`, `delivery_limit = N` (quorum queues) and `connection =
/// "name"` (`WORKER_AMQP_<NAME>_URL`; the default connection otherwise).
/// `check`, `topology` and `check --drift` see it as they see a route's
/// queues. Like startup hooks, it waits for a broker that does not answer
/// yet, up to `WORKER_STARTUP_TIMEOUT`.
///
/// ```
/// worker::declare_queue!("order_events");
/// worker::declare_queue!("audit", queue_type = quorum, delivery_limit = 10);
/// # fn main() {}
/// ```
#[proc_macro]
pub fn declare_queue(input: TokenStream) -> TokenStream {
    declare::declare_queue(input.into()).into()
}

/// Generates `fn main` running the worker.
///
/// Optional defaults, which the environment overrides: `amqp = "memory://"`
/// (an `amqp://`, `amqps://` or `memory://` URL), `prefetch = 1024`
/// (1..=65535), `bulk_flush_interval = "5s"`, `shutdown_timeout = "30s"`,
/// `http = "127.0.0.1:8080"` (or `"off"`). And `http_layers = layers`:
/// the path of a `fn(worker::http::Router) -> worker::http::Router` that
/// wraps the HTTP routes in the application's own tower layers (auth,
/// CORS, tracing: `router.layer(...)`); `/health/*` and `/metrics` stay
/// outside them.
///
/// The generated binary is also a command line: no argument runs the
/// worker; `routes` prints the route table; `check` validates the
/// configuration and reaches every connection, queue and stream (`check
/// --drift` also compares existing queues with their declarations);
/// `topology --format definitions|asyncapi` prints the queues as a
/// RabbitMQ definitions file or an AsyncAPI 3.0 document; `--help` lists
/// every variable.
#[proc_macro]
pub fn main(input: TokenStream) -> TokenStream {
    main_macro::main(input.into()).into()
}

#[cfg(test)]
mod docs {
    use worker_rules::options as o;

    /// The doc comment above `pub fn <name>` in this file.
    fn doc_of(name: &str) -> String {
        let source = include_str!("lib.rs");
        let end = source
            .find(&format!("pub fn {name}("))
            .unwrap_or_else(|| panic!("no `pub fn {name}`"));
        let lines: Vec<&str> = source[..end].lines().collect();
        let mut doc: Vec<&str> = lines
            .iter()
            .rev()
            .skip_while(|l| !l.starts_with("///"))
            .take_while(|l| l.starts_with("///") || l.starts_with("#["))
            .copied()
            .collect();
        doc.reverse();
        // One line, so that a name broken over two lines is still found.
        doc.iter()
            .map(|l| l.trim_start_matches("///").trim())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn missing(doc: &str, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .filter(|n| !doc.contains(&format!("`{n}")))
            .map(|n| n.to_string())
            .collect()
    }

    /// A backend or option the rules accept and the rustdoc leaves out
    /// fails this test.
    #[test]
    fn every_backend_and_option_is_documented() {
        let route = doc_of("route");
        let all: Vec<&str> = [
            o::BACKENDS,
            o::AMQP_KEYS,
            o::EVERY_KEYS,
            o::CRON_KEYS,
            o::HTTP_KEYS,
            o::SSE_KEYS,
            &[o::CRATE],
        ]
        .concat();
        assert_eq!(missing(&route, &all), Vec::<String>::new(), "#[route] docs");
        for value in [o::ACTIONS, o::QUEUE_TYPES, o::HTTP_METHODS].concat() {
            assert!(route.contains(value), "#[route] docs: value `{value}`");
        }
        let main = doc_of("main");
        assert_eq!(
            missing(&main, o::MAIN_KEYS),
            Vec::<String>::new(),
            "main! docs"
        );
        for command in ["routes", "check", "check --drift", "topology", "--help"] {
            assert!(
                main.contains(&format!("`{command}")),
                "main! docs: `{command}`"
            );
        }
        let declare = doc_of("declare_queue");
        assert_eq!(
            missing(&declare, o::DECLARE_QUEUE_KEYS),
            Vec::<String>::new(),
            "declare_queue! docs"
        );
        assert_eq!(
            missing(&doc_of("on_startup"), o::HOOK_KEYS),
            Vec::<String>::new()
        );
    }
}

#[cfg(test)]
mod private_module {
    /// The generated code names `__private_<version>`: the module must
    /// follow the package's version, or a mismatch of the facade and the
    /// macros would compile against a `__private` of another shape.
    #[test]
    fn generated_paths_name_this_version() {
        let module = format!("__private_{}", env!("CARGO_PKG_VERSION").replace('.', "_"));
        let sources = [
            include_str!("main_macro.rs"),
            include_str!("route/expand.rs"),
            include_str!("adapter.rs"),
            include_str!("hook.rs"),
            include_str!("declare.rs"),
            include_str!("duration.rs"),
            include_str!("krate.rs"),
            include_str!("../../worker-core/src/lib.rs"),
            include_str!("../../worker-http/src/lib.rs"),
            include_str!("../../src/lib.rs"),
        ];
        for source in sources {
            for (i, _) in source.match_indices("__private_") {
                let name: String = source[i..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                assert_eq!(
                    name, module,
                    "a generated path names `{name}`, not `{module}`"
                );
            }
        }
        assert!(include_str!("../../src/lib.rs").contains(&format!("pub mod {module}")));
        assert!(include_str!("../../worker-core/src/lib.rs").contains(&format!("pub mod {module}")));
    }
}
