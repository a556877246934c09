//! Attribute macros of the `worker` framework: `#[route]`, `#[on_startup]`,
//! `#[on_shutdown]` and `main!`.
//!
//! This file only holds the `proc_macro` shims; the logic works on
//! `proc_macro2` (parse -> validate -> expand) so it is unit-tested. Each
//! macro emits the user's fn unchanged, a hidden adapter that calls the
//! runtime's traits, and one `inventory::submit!` of a const record, all
//! through absolute `::worker::__private` paths (`crate = "path"` names
//! another path, for a renamed dependency). The option rules are
//! `worker_rules`', shared with the runtime. Mistakes are reported under the
//! offending token, all of them in one compile.

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
/// The first argument is the backend (`amqp`, `every`, `http`, `sse`), then
/// `key = value` options, all checked at compile time:
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
/// # fn main() {}
/// ```
///
/// `amqp` options: `queues = ["a", "b"]` (required, non-empty, distinct, no
/// `amq.` prefix), `bulk_size` (1..=65535, default 1), `bulk_flush_interval`
/// (duration string, default `WORKER_FLUSH_TIMEOUT`), `on_success` and
/// `on_exception` (`ack`, `reject` or `requeue`; defaults `ack` and
/// `requeue`), `on_decode_error` (`reject` or `ack`, default `reject`),
/// `max_concurrency` (>= 1, default 1), `max_retries` and `retry_backoff`,
/// `dead_letter = "queue"`, `connection = "name"`, `vhost = "name"`,
/// `prefetch` (1..=65535), `declare = true|false`,
/// `queue_type = classic|quorum`, `delivery_limit = N` (>= 1; a declared
/// quorum queue's `x-delivery-limit`: it needs `queue_type = quorum` and
/// `declare = true`) and `single_active = true|false` (declare the queues
/// with `x-single-active-consumer`: one consumer of many is active; needs
/// `declare = true`).
///
/// Retries: `retry_backoff` is the delay of the first retry, doubled for
/// each further attempt. It needs `max_retries` (alone it is an error);
/// `max_retries` without `retry_backoff` starts at a 1 second backoff.
///
/// The first argument of an `amqp` handler is `Vec<Message<T>>`; further
/// arguments (and every argument of `every` handlers) are extractors:
/// `App`, `State<T>` (patterns like `State(db): State<Db>` work) or
/// `Publisher`. A handler returns `()` or `Result<(), E>`.
///
/// `every` options: `interval = "30s"` (required, > 0), `max_concurrency`
/// (default 1), `run_on_start` (default `true`).
///
/// `http` options: `method = GET|POST|PUT|PATCH|DELETE|HEAD` (or
/// `methods = [GET, POST]`) and `path = "/items/{id}"` (or `paths = [..]`),
/// the path grammar checked at compile time. The handler is an axum handler
/// with state `App`: its arguments are axum extractors (re-exported under
/// `worker::http`) or `State<T>`, and it returns any `IntoResponse`.
///
/// Every attribute (and `main!`) also takes `crate = "path"`: where the
/// generated code finds the framework, `worker` by default, for a renamed
/// dependency (`wf = { package = "worker-framework", .. }` and
/// `crate = "wf"`).
///
/// `sse` options: `url` (required, `http://` or `https://`), `bulk_size`
/// (1..=65535, default 1), `bulk_flush_interval`, `events = ["name"]` (a
/// filter) and `connection = "name"`. The handler's first argument is
/// `Vec<worker::sse::Event<T>>`, further arguments are `App`, `State<T>` or
/// `Publisher`.
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
/// #[route(sse, url = "https://example.com/events", bulk_size = 10)]
/// async fn on_events(events: Vec<Event<Price>>) {}
/// # fn main() {}
/// ```
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
/// (1..=65535), `flush_timeout = "5s"`, `shutdown_timeout = "30s"`,
/// `http = "127.0.0.1:8080"` (or `"off"`).
#[proc_macro]
pub fn main(input: TokenStream) -> TokenStream {
    main_macro::main(input.into()).into()
}
