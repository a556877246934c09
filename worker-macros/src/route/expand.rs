//! Code generation of a validated route: the adapter, the type checks and
//! one `inventory::submit!` of a const `Route` record.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};

use super::validate::{AmqpSpec, EverySpec, Spec};
use crate::duration;
use crate::handler::{self, Handler, Input};

/// The registration of `handler` with `spec`, to emit after the user's fn.
pub fn route(spec: &Spec, backend: &Ident, handler: &Handler) -> TokenStream {
    let (input, kind) = match spec {
        Spec::Amqp(s) => (Input::Batch, amqp_kind(s)),
        Spec::Every(s) => (Input::App, every_kind(s)),
        Spec::Http | Spec::Sse => {
            let message =
                format!("the `{backend}` backend is not available in this version of worker");
            return quote_spanned!(backend.span()=> ::core::compile_error!(#message););
        }
    };
    // The adapter's trait calls are spanned at each argument's type: they
    // are the type checks (separate asserts would report each mistake twice).
    let adapter = handler::adapter(handler, input);
    let record = record(handler, kind);
    quote! {
        const _: () = {
            #adapter
            ::worker::__private::inventory::submit! { #record }
        };
    }
}

/// Only the per-argument type checks, for a route whose options failed and
/// that therefore has no adapter, so argument mistakes are still reported in
/// the same compile.
pub fn checks_only(spec_backend_is_batch: bool, handler: &Handler) -> TokenStream {
    let input = if spec_backend_is_batch {
        Input::Batch
    } else {
        Input::App
    };
    let checks = handler::type_checks(handler, input);
    quote! {
        const _: () = {
            #[allow(dead_code)]
            fn __worker_checks() {
                #checks
            }
        };
    }
}

fn record(handler: &Handler, kind: TokenStream) -> TokenStream {
    let name = handler.display_name();
    quote! {
        ::worker::__private::Route {
            name: #name,
            module: ::core::module_path!(),
            location: ::worker::__private::Location {
                file: ::core::file!(),
                line: ::core::line!(),
                column: ::core::column!(),
            },
            kind: #kind,
        }
    }
}

fn action(name: &str) -> TokenStream {
    match name {
        "ack" => quote!(::worker::__private::Action::Ack),
        "reject" => quote!(::worker::__private::Action::Reject),
        _ => quote!(::worker::__private::Action::Requeue),
    }
}

fn some(value: TokenStream) -> TokenStream {
    quote!(::core::option::Option::Some(#value))
}

/// Only the options that differ from `AmqpOptions::new` are written out.
fn amqp_kind(s: &AmqpSpec) -> TokenStream {
    let mut fields = Vec::new();
    let mut field = |name: &str, value: TokenStream| {
        let name = Ident::new(name, proc_macro2::Span::call_site());
        fields.push(quote!(#name: #value,));
    };
    if let Some(n) = s.bulk_size {
        field("bulk_size", quote!(#n));
    }
    if let Some(d) = s.bulk_flush_interval {
        field("bulk_flush_interval", some(duration::to_tokens(d)));
    }
    if let Some(a) = s.on_success {
        field("on_success", action(a));
    }
    if let Some(a) = s.on_exception {
        field("on_exception", action(a));
    }
    if let Some(a) = s.on_decode_error {
        field("on_decode_error", action(a));
    }
    if let Some(n) = s.max_concurrency {
        field("max_concurrency", quote!(#n));
    }
    if let Some(n) = s.max_retries {
        field("max_retries", some(quote!(#n)));
    }
    if let Some(d) = s.retry_backoff {
        field("retry_backoff", some(duration::to_tokens(d)));
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
    if let Some(b) = s.declare {
        field("declare", quote!(#b));
    }
    if let Some(b) = s.quorum {
        field("quorum", quote!(#b));
    }
    let queues = &s.queues;
    quote! {
        ::worker::__private::RouteKind::Amqp {
            options: ::worker::__private::AmqpOptions {
                #(#fields)*
                ..::worker::__private::AmqpOptions::new(&[#(#queues),*])
            },
            handler: __worker_adapter,
        }
    }
}

fn every_kind(s: &EverySpec) -> TokenStream {
    let interval = duration::to_tokens(s.interval);
    let max_concurrency = s.max_concurrency;
    let run_on_start = s.run_on_start;
    quote! {
        ::worker::__private::RouteKind::Every {
            options: ::worker::__private::EveryOptions {
                interval: #interval,
                max_concurrency: #max_concurrency,
                run_on_start: #run_on_start,
            },
            handler: __worker_adapter,
        }
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
        let out = amqp_kind(&s).to_string();
        assert!(out.contains("bulk_size : 2014u16 ,"), "{out}");
        assert!(
            out.contains("on_exception : :: worker :: __private :: Action :: Reject ,"),
            "{out}"
        );
        assert!(
            out.contains(".. :: worker :: __private :: AmqpOptions :: new (& [\"items\"])"),
            "{out}"
        );
        assert!(!out.contains("on_success"), "{out}");
    }
}
