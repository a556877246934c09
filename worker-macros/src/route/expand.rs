//! Code generation of a validated route: the adapter, the type checks and
//! one `inventory::submit!` of a const `Route` record.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};

use super::validate::{AmqpSpec, CronSpec, EverySpec, HttpSpec, Spec, SseSpec};
use crate::adapter::{self, Input};
use crate::duration;
use crate::krate::Krate;
use crate::signature::Handler;

/// The registration of `handler` with `spec`, to emit after the user's fn.
pub(crate) fn route(spec: &Spec, handler: &Handler, krate: &Krate) -> TokenStream {
    let (input, kind) = match spec {
        Spec::Amqp(s) => (Input::Batch, amqp_kind(s, krate)),
        Spec::Every(s) => (Input::App, every_kind(s, krate)),
        Spec::Cron(s) => (Input::App, cron_kind(s, krate)),
        Spec::Http(s) => return http_route(handler, s, krate),
        Spec::Sse(_) => (Input::Events, service_kind(krate)),
    };
    // The adapter's trait calls are spanned at each argument's type: they
    // are the type checks (separate asserts would report each mistake twice).
    let adapter = adapter::adapter(handler, input, krate);
    let adapter = match spec {
        // The service's record: the options, and a `make` that erases the
        // adapter.
        Spec::Sse(s) => {
            let record = sse_record(s, krate);
            quote! {
                #adapter
                fn __worker_make() -> #krate::__private_0_1_0::sse::ErasedSse {
                    #krate::__private_0_1_0::sse::erase_sse_adapter(__worker_adapter)
                }
                static __WORKER_SERVICE_ROUTE: #krate::__private_0_1_0::sse::SseRoute = #record;
            }
        }
        _ => adapter,
    };
    let record = record(handler, kind, krate);
    let schema = match (spec, handler.args.first()) {
        (Spec::Amqp(_), Some(first)) => payload_schema(first, krate),
        _ => quote!(),
    };
    quote! {
        const _: () = {
            #adapter
            #schema
            #krate::__private_0_1_0::inventory::submit! { #record }
        };
    }
}

/// The schema of an `amqp` handler's message type (`T` of its first
/// argument, `Vec<Message<T>>`): the type's own with `schemars`, else open
/// (a wrong first argument gets the open one; the adapter reports it).
fn payload_schema(first: &syn::Type, krate: &Krate) -> TokenStream {
    quote! {
        fn __worker_payload_schema() -> #krate::__private_0_1_0::serde_json::Value {
            #[allow(unused_imports)]
            use #krate::__private_0_1_0::schema::{Open as _, WithSchema as _};
            (&#krate::__private_0_1_0::schema::Probe::<#first>::new()).payload_schema()
        }
    }
}

/// Only the per-argument type checks, for a route whose options failed and
/// that therefore has no adapter, so argument mistakes are still reported in
/// the same compile.
pub(crate) fn checks_only(input: Input, handler: &Handler, krate: &Krate) -> TokenStream {
    let checks = adapter::type_checks(handler, input, krate);
    quote! {
        const _: () = {
            #[allow(dead_code)]
            fn __worker_checks() {
                #checks
            }
        };
    }
}

/// The registration of an `http` route: a `make` fn returning the erased
/// handler (whose trait bounds, axum's `Handler`, are the argument checks),
/// the service's record and the route.
fn http_route(handler: &Handler, s: &HttpSpec, krate: &Krate) -> TokenStream {
    let make = http_make(handler, krate);
    let service = http_record(s, krate);
    let record = record(handler, service_kind(krate), krate);
    quote! {
        const _: () = {
            fn __worker_make() -> #krate::__private_0_1_0::http::ErasedHandler {
                #make
            }
            static __WORKER_SERVICE_ROUTE: #krate::__private_0_1_0::http::HttpRoute = #service;
            #krate::__private_0_1_0::inventory::submit! { #record }
        };
    }
}

/// The kind of a route that a service serves: its record, a static
/// beside it (`__WORKER_SERVICE_ROUTE`).
fn service_kind(krate: &Krate) -> TokenStream {
    quote!(#krate::__private_0_1_0::RouteKind::Service(&__WORKER_SERVICE_ROUTE))
}

/// `erase_handler(f)`, spanned at the fn's name so that an argument or a
/// return type axum cannot use is reported on the handler.
fn http_make(handler: &Handler, krate: &Krate) -> TokenStream {
    let name = &handler.name;
    let krate = krate.at(name.span());
    quote_spanned!(name.span()=> #krate::__private_0_1_0::http::erase_handler(#name))
}

fn str_slice<S: AsRef<str>>(items: &[S]) -> TokenStream {
    let items = items.iter().map(AsRef::as_ref);
    quote!(&[#(#items),*])
}

fn http_record(s: &HttpSpec, krate: &Krate) -> TokenStream {
    let methods = str_slice(&s.methods);
    let paths = str_slice(&s.paths);
    quote! {
        #krate::__private_0_1_0::http::HttpRoute {
            options: #krate::__private_0_1_0::http::HttpOptions {
                methods: #methods,
                paths: #paths,
            },
            make: __worker_make,
        }
    }
}

fn sse_record(s: &SseSpec, krate: &Krate) -> TokenStream {
    let url = &s.url;
    let mut fields = Vec::new();
    let mut field = |name: &str, value: TokenStream| {
        let name = syn::Ident::new(name, proc_macro2::Span::call_site());
        fields.push(quote!(#name: #value,));
    };
    let bulk_size = s.bulk_size;
    field("bulk_size", quote!(#bulk_size));
    field(
        "bulk_flush_interval",
        optional_duration(s.bulk_flush_interval, krate),
    );
    field("events", str_slice(&s.events));
    if let Some(c) = &s.connection {
        field("connection", some(quote!(#c)));
    }
    field("timeout", optional_duration(s.timeout, krate));
    let bisect = s.bisect;
    field("bisect", quote!(#bisect));
    if let Some(n) = s.max_retries {
        field("max_retries", some(quote!(#n)));
    }
    if let Some(d) = s.retry_backoff {
        field("retry_backoff", some(duration::to_tokens(d, krate)));
    }
    if let Some(q) = &s.dead_letter {
        field("dead_letter", some(quote!(#q)));
    }
    let resume = s.resume;
    field("resume", quote!(#resume));
    if let Some(b) = &s.broker {
        field("broker", some(quote!(#b)));
    }
    quote! {
        #krate::__private_0_1_0::sse::SseRoute {
            options: #krate::__private_0_1_0::sse::SseOptions {
                #(#fields)*
                ..#krate::__private_0_1_0::sse::SseOptions::new(#url)
            },
            make: __worker_make,
        }
    }
}

/// Where the attribute was written, as a record's `Location`.
pub(crate) fn location(krate: &Krate) -> TokenStream {
    quote! {
        #krate::__private_0_1_0::Location {
            file: ::core::file!(),
            line: ::core::line!(),
            column: ::core::column!(),
        }
    }
}

fn record(handler: &Handler, kind: TokenStream, krate: &Krate) -> TokenStream {
    let name = handler.display_name();
    let location = location(krate);
    quote! {
        #krate::__private_0_1_0::Route {
            name: #name,
            module: ::core::module_path!(),
            location: #location,
            kind: #kind,
        }
    }
}

fn action(name: &str, krate: &Krate) -> TokenStream {
    match name {
        "ack" => quote!(#krate::__private_0_1_0::Action::Ack),
        "reject" => quote!(#krate::__private_0_1_0::Action::Reject),
        _ => quote!(#krate::__private_0_1_0::Action::Requeue),
    }
}

/// `exchange`, `exchange_type` and `bindings`, where given.
fn exchange_fields(s: &AmqpSpec, krate: &Krate, field: &mut impl FnMut(&str, TokenStream)) {
    if let Some(e) = &s.exchange {
        field("exchange", some(quote!(#e)));
    }
    if let Some(kind) = s.exchange_type {
        field("exchange_type", exchange_kind(kind, krate));
    }
    if !s.bindings.is_empty() {
        field("bindings", str_slice(&s.bindings));
    }
}

fn exchange_kind(name: &str, krate: &Krate) -> TokenStream {
    match name {
        "direct" => quote!(#krate::__private_0_1_0::ExchangeKind::Direct),
        "fanout" => quote!(#krate::__private_0_1_0::ExchangeKind::Fanout),
        "headers" => quote!(#krate::__private_0_1_0::ExchangeKind::Headers),
        _ => quote!(#krate::__private_0_1_0::ExchangeKind::Topic),
    }
}

fn some(value: TokenStream) -> TokenStream {
    quote!(::core::option::Option::Some(#value))
}

/// Only the options that differ from `AmqpOptions::new` are written out.
fn amqp_kind(s: &AmqpSpec, krate: &Krate) -> TokenStream {
    let mut fields = Vec::new();
    let mut field = |name: &str, value: TokenStream| {
        let name = Ident::new(name, proc_macro2::Span::call_site());
        fields.push(quote!(#name: #value,));
    };
    exchange_fields(s, krate, &mut field);
    if let Some(n) = s.bulk_size {
        field("bulk_size", quote!(#n));
    }
    if let Some(d) = s.bulk_flush_interval {
        field("bulk_flush_interval", some(duration::to_tokens(d, krate)));
    }
    if let Some(a) = s.on_success {
        field("on_success", action(a, krate));
    }
    if let Some(a) = s.on_exception {
        field("on_exception", action(a, krate));
    }
    if let Some(a) = s.on_decode_error {
        field("on_decode_error", action(a, krate));
    }
    if let Some(n) = s.max_concurrency {
        field("max_concurrency", quote!(#n));
    }
    if let Some(n) = s.max_retries {
        field("max_retries", some(quote!(#n)));
    }
    if let Some(d) = s.retry_backoff {
        field("retry_backoff", some(duration::to_tokens(d, krate)));
    }
    if let Some(q) = &s.dead_letter {
        field("dead_letter", some(quote!(#q)));
    }
    if let Some(c) = &s.connection {
        field("connection", some(quote!(#c)));
    }
    if let Some(v) = &s.vhost {
        field("vhost", some(quote!(#v)));
    }
    if let Some(n) = s.prefetch {
        field("prefetch", some(quote!(#n)));
    }
    queue_fields(s, krate, &mut field);
    if let Some(d) = s.timeout {
        field("timeout", some(duration::to_tokens(d, krate)));
    }
    if let Some(b) = s.bisect {
        field("bisect", quote!(#b));
    }
    field("payload_schema", some(quote!(__worker_payload_schema)));
    let queues = &s.queues;
    quote! {
        #krate::__private_0_1_0::RouteKind::Amqp {
            options: #krate::__private_0_1_0::AmqpOptions {
                #(#fields)*
                ..#krate::__private_0_1_0::AmqpOptions::new(&[#(#queues),*])
            },
            handler: __worker_adapter,
        }
    }
}

/// The fields of the declared queues' arguments and of the consumer's.
fn queue_fields(s: &AmqpSpec, krate: &Krate, field: &mut impl FnMut(&str, TokenStream)) {
    if let Some(b) = s.declare {
        field("declare", quote!(#b));
    }
    if let Some(b) = s.quorum {
        field("quorum", quote!(#b));
    }
    if let Some(limit) = s.delivery_limit {
        field(
            "delivery_limit",
            some(crate::krate::delivery_limit_tokens(limit, krate)),
        );
    }
    if let Some(b) = s.single_active {
        field("single_active", quote!(#b));
    }
    if let Some(n) = s.consumer_priority {
        field("consumer_priority", some(quote!(#n)));
    }
    if let Some(n) = s.max_priority {
        field("max_priority", some(quote!(#n)));
    }
    if let Some(b) = s.broadcast {
        field("broadcast", quote!(#b));
    }
}

fn every_kind(s: &EverySpec, krate: &Krate) -> TokenStream {
    let interval = duration::to_tokens(s.interval, krate);
    let max_concurrency = s.max_concurrency;
    let run_on_start = s.run_on_start;
    let timeout = optional_duration(s.timeout, krate);
    quote! {
        #krate::__private_0_1_0::RouteKind::Every {
            options: #krate::__private_0_1_0::EveryOptions {
                max_concurrency: #max_concurrency,
                run_on_start: #run_on_start,
                timeout: #timeout,
                ..#krate::__private_0_1_0::EveryOptions::new(#interval)
            },
            handler: __worker_adapter,
        }
    }
}

fn cron_kind(s: &CronSpec, krate: &Krate) -> TokenStream {
    let CronSpec {
        schedule,
        tz,
        max_concurrency,
        singleton,
        catch_up,
        ..
    } = s;
    let connection = match &s.connection {
        Some(c) => some(quote!(#c)),
        None => quote!(::core::option::Option::None),
    };
    let timeout = optional_duration(s.timeout, krate);
    quote! {
        #krate::__private_0_1_0::RouteKind::Cron {
            options: #krate::__private_0_1_0::CronOptions {
                tz: #tz,
                max_concurrency: #max_concurrency,
                singleton: #singleton,
                catch_up: #catch_up,
                connection: #connection,
                timeout: #timeout,
                ..#krate::__private_0_1_0::CronOptions::new(#schedule)
            },
            handler: __worker_adapter,
        }
    }
}

fn optional_duration(d: Option<std::time::Duration>, krate: &Krate) -> TokenStream {
    match d {
        Some(d) => some(duration::to_tokens(d, krate)),
        None => quote!(::core::option::Option::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_writes_only_the_given_options() {
        let s = AmqpSpec {
            queues: vec!["items".into()],
            bulk_size: Some(2014),
            on_exception: Some("reject"),
            ..AmqpSpec::default()
        };
        let out = amqp_kind(&s, &Krate::default()).to_string();
        assert!(out.contains("bulk_size : 2014u16 ,"), "{out}");
        assert!(
            out.contains("on_exception : :: worker :: __private_0_1_0 :: Action :: Reject ,"),
            "{out}"
        );
        assert!(
            out.contains(".. :: worker :: __private_0_1_0 :: AmqpOptions :: new (& [\"items\"])"),
            "{out}"
        );
        assert!(!out.contains("on_success"), "{out}");
    }

    #[test]
    fn http_and_sse_write_every_option() {
        let s = HttpSpec {
            methods: vec!["GET", "HEAD"],
            paths: vec!["/a/{id}".into(), "/b".into()],
        };
        let out = http_record(&s, &Krate::default()).to_string();
        assert!(
            out.contains("methods : & [\"GET\" , \"HEAD\"] , paths : & [\"/a/{id}\" , \"/b\"] ,"),
            "{out}"
        );
        let s = SseSpec {
            url: "http://x/events".into(),
            bulk_size: 10,
            events: vec!["price".into()],
            ..SseSpec::default()
        };
        let out = sse_record(&s, &Krate::default()).to_string();
        for expected in [
            "bulk_size : 10u16 ,",
            "bulk_flush_interval : :: core :: option :: Option :: None ,",
            "events : & [\"price\"] ,",
            ".. :: worker :: __private_0_1_0 :: sse :: SseOptions :: new (\"http://x/events\")",
        ] {
            assert!(out.contains(expected), "{expected} in {out}");
        }
        assert!(!out.contains("connection"), "{out}");
    }
}
