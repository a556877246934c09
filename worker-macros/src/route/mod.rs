//! `#[route(<backend>, key = value, ...)]`: parse -> validate -> expand.

mod expand;
mod parse;
mod validate;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ItemFn;

use crate::adapter::Input;
use crate::diag::Diag;
use crate::krate::Krate;
use crate::signature;
use parse::Backend;

pub(crate) use expand::location;
pub(crate) use parse::key_values;

/// Expands `#[route(attr)] item`. The user's fn is always emitted unchanged,
/// followed by either its registration or every error found.
pub(crate) fn route(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[route]` can only be applied to an `async fn`",
            )
            .into_compile_error();
            return quote!(#item #error);
        }
    };
    let mut diag = Diag::new();
    let attr = parse::parse(&mut diag, attr);
    let spec = attr.as_ref().and_then(|a| validate::options(&mut diag, a));
    let handler = signature::check(&mut diag, &func.sig, "a route handler");
    if let (Some(a), Some(h)) = (&attr, &handler) {
        if a.backend == Backend::Amqp && h.args.is_empty() {
            diag.error(
                h.parens,
                "an `amqp` handler takes the messages as its first argument, e.g. `msgs: Vec<Message<T>>`",
            );
        }
        if a.backend == Backend::Sse && h.args.is_empty() {
            diag.error(
                h.parens,
                "an `sse` handler takes the events as its first argument, e.g. `events: Vec<worker::sse::Event<T>>`",
            );
        }
    }
    let has_errors = diag.has_errors();
    let errors = diag.into_compile_errors();
    let default_krate = Krate::default();
    let krate = attr.as_ref().map_or(&default_krate, |a| &a.krate);
    let registration = match (&attr, &spec, &handler) {
        (Some(_), Some(spec), Some(h)) if !has_errors => expand::route(spec, h, krate),
        (Some(a), _, Some(h))
            if matches!(
                a.backend,
                Backend::Amqp | Backend::Every | Backend::Cron | Backend::Sse
            ) =>
        {
            let input = match a.backend {
                Backend::Amqp => Input::Batch,
                Backend::Sse => Input::Events,
                _ => Input::App,
            };
            if input != Input::App && h.args.is_empty() {
                quote!()
            } else {
                expand::checks_only(input, h, krate)
            }
        }
        _ => quote!(),
    };
    quote! {
        #func
        #errors
        #registration
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_the_fn_and_a_registration() {
        let out = route(
            quote!(amqp, queues = ["items"]),
            quote!(
                async fn check(m: Vec<Message>) {}
            ),
        )
        .to_string();
        assert!(
            out.starts_with("async fn check (m : Vec < Message >) { }"),
            "{out}"
        );
        assert!(out.contains("inventory :: submit !"), "{out}");
        assert!(out.contains("name : \"check\""), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn keeps_the_fn_next_to_the_errors() {
        let out = route(
            quote!(amqp, bulk_size = 0),
            quote!(
                fn check() {}
            ),
        )
        .to_string();
        assert!(out.starts_with("fn check () { }"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
        assert!(!out.contains("submit"), "{out}");
    }

    #[test]
    fn amqp_handlers_need_the_messages() {
        let out = route(
            quote!(amqp, queues = ["a"]),
            quote!(
                async fn check() {}
            ),
        )
        .to_string();
        assert!(
            out.contains("takes the messages as its first argument"),
            "{out}"
        );
    }

    #[test]
    fn http_and_sse_are_validated_then_registered() {
        let out = route(
            quote!(http, methods = [GET, POST], path = "/x"),
            quote!(
                async fn get() {}
            ),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("erase_handler (get)"), "{out}");
        assert!(out.contains("methods : & [\"GET\" , \"POST\"]"), "{out}");
        assert!(!out.contains("assert_from_app"), "{out}");
        let out = route(
            quote!(sse, url = "http://x/events", connection = "feed"),
            quote!(
                async fn on_events(events: Vec<Event>) {}
            ),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("erase_sse_adapter (__worker_adapter)"),
            "{out}"
        );
        assert!(out.contains("FromEvents > :: from_events"), "{out}");
        assert!(out.contains("RouteKind :: Service"), "{out}");
        assert!(out.contains("sse :: SseRoute"), "{out}");
        let out = route(
            quote!(http, method = GET, path = "x"),
            quote!(
                async fn get() {}
            ),
        )
        .to_string();
        assert!(!out.contains("submit"), "{out}");
        assert!(out.contains("must start with `/`"), "{out}");
    }

    #[test]
    fn the_crate_path_can_be_overridden() {
        let out = route(
            quote!(amqp, queues = ["a"], crate = "worker_core"),
            quote!(
                async fn check(m: Vec<Message>) {}
            ),
        )
        .to_string();
        assert!(!out.contains(":: worker ::"), "{out}");
        assert!(
            out.contains("worker_core :: __private_0_1_0 :: inventory :: submit !"),
            "{out}"
        );
        assert!(
            out.contains("worker_core :: __private_0_1_0 :: FromBatch"),
            "{out}"
        );
        let out = route(
            quote!(http, method = GET, path = "/", crate = "fw"),
            quote!(
                async fn get() {}
            ),
        )
        .to_string();
        assert!(
            out.contains("fw :: __private_0_1_0 :: http :: erase_handler (get)"),
            "{out}"
        );
        let out = route(
            quote!(every, interval = "1s", crate = "a", crate = "b"),
            quote!(
                async fn tick() {}
            ),
        )
        .to_string();
        assert!(out.contains("duplicate option `crate`"), "{out}");
    }

    #[test]
    fn non_fn_items_are_rejected() {
        let out = route(
            quote!(amqp),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(out.starts_with("struct S ;"), "{out}");
        assert!(
            out.contains("can only be applied to an `async fn`"),
            "{out}"
        );
    }
}
