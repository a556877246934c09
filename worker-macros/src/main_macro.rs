//! `worker::main!(key = value, ...)`: generates `fn main` running the app
//! with the given defaults (the environment overrides them at startup).

use std::net::SocketAddr;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::LitStr;

use worker_rules::options::*;
use worker_rules::{bounds, url};

use crate::diag::{Diag, Slot};
use crate::duration;
use crate::krate::Krate;
use crate::route::key_values;
use crate::value::{self, KeyValue};

/// Expands `main!(input)`. On any error: the errors and an empty
/// `fn main() {}`, so rustc does not add "`main` function not found".
pub(crate) fn main(input: TokenStream) -> TokenStream {
    let mut diag = Diag::new();
    let (fields, layers, krate) = options(&mut diag, input);
    if diag.has_errors() {
        let errors = diag.into_compile_errors();
        return quote! {
            #errors
            fn main() {}
        };
    }
    diag.finish().expect("no errors");
    // With `http_layers`, the function is passed where its type is
    // checked: a mismatch is reported at the path the user wrote.
    let (run, layers) = match layers {
        Some(path) => (
            quote!(run_main_with_http_layers),
            quote_spanned!(path.span()=> , #path),
        ),
        None => (quote!(run_main), TokenStream::new()),
    };
    quote! {
        fn main() {
            #krate::__private_0_1_0::#run(
                #krate::__private_0_1_0::MainOptions {
                    #(#fields)*
                    ..::core::default::Default::default()
                },
                #krate::__private_0_1_0::Program {
                    name: ::core::env!("CARGO_PKG_NAME"),
                    version: ::core::env!("CARGO_PKG_VERSION"),
                }
                #layers
            )
        }
    }
}

/// The `MainOptions` fields that were given, the `http_layers` function,
/// and the framework's path.
fn options(diag: &mut Diag, input: TokenStream) -> (Vec<TokenStream>, Option<syn::Path>, Krate) {
    let (krate, kvs) = key_values(diag, input);
    let mut amqp = Slot::default();
    let mut prefetch = Slot::<u16>::default();
    let mut bulk_flush_interval = Slot::default();
    let mut shutdown_timeout = Slot::default();
    let mut http = Slot::default();
    let mut layers = Slot::<syn::Path>::default();
    for KeyValue { key, value: v } in kvs {
        match key.to_string().as_str() {
            MAIN_AMQP => diag.set_once(&mut amqp, &key, |d| {
                let lit = d.ok(value::string(MAIN_AMQP, &v, "a URL string like `\"memory://\"`"))?;
                check_amqp_url(d, &lit).then_some(lit)
            }),
            PREFETCH => diag.set_once(&mut prefetch, &key, |d| {
                d.ok(value::int(&v, &bounds::PREFETCH))
                    .and_then(|n| u16::try_from(n).ok())
            }),
            BULK_FLUSH_INTERVAL => diag.set_once(&mut bulk_flush_interval, &key, |d| {
                d.ok(duration::read_positive(BULK_FLUSH_INTERVAL, &v))
            }),
            SHUTDOWN_TIMEOUT => diag.set_once(&mut shutdown_timeout, &key, |d| {
                d.ok(duration::read(SHUTDOWN_TIMEOUT, &v))
            }),
            MAIN_HTTP => diag.set_once(&mut http, &key, |d| {
                let lit = d.ok(value::string(
                    MAIN_HTTP,
                    &v,
                    "an address string like `\"127.0.0.1:8080\"` or `\"off\"`",
                ))?;
                let text = lit.value();
                if text != HTTP_OFF && text.parse::<SocketAddr>().is_err() {
                    d.error(
                        lit.span(),
                        format_args!(
                            "invalid `http` address `{text}`, expected `host:port` with an IP (e.g. `127.0.0.1:8080`) or `off`"
                        ),
                    );
                    return None;
                }
                Some(lit)
            }),
            MAIN_HTTP_LAYERS => diag.set_once(&mut layers, &key, |d| match &v {
                syn::Expr::Path(p) if p.qself.is_none() => Some(p.path.clone()),
                other => {
                    d.error(
                        other.span(),
                        "`http_layers` takes the path of a `fn(worker::http::Router) -> worker::http::Router`, e.g. `http_layers = layers`",
                    );
                    None
                }
            }),
            _ => diag.unknown_key(&key, "`main!`", MAIN_KEYS),
        }
    }
    let mut fields = Vec::new();
    if let Some(url) = amqp.value {
        fields.push(quote!(amqp: ::core::option::Option::Some(#url),));
    }
    if let Some(n) = prefetch.value {
        fields.push(quote!(prefetch: ::core::option::Option::Some(#n),));
    }
    if let Some(d) = bulk_flush_interval.value {
        let d = duration::to_tokens(d, &krate);
        fields.push(quote!(bulk_flush_interval: ::core::option::Option::Some(#d),));
    }
    if let Some(d) = shutdown_timeout.value {
        let d = duration::to_tokens(d, &krate);
        fields.push(quote!(shutdown_timeout: ::core::option::Option::Some(#d),));
    }
    if let Some(addr) = http.value {
        fields.push(quote!(http: ::core::option::Option::Some(#addr),));
    }
    (fields, layers.value, krate)
}

fn check_amqp_url(diag: &mut Diag, lit: &LitStr) -> bool {
    match url::broker_url(&lit.value()) {
        Ok(()) => true,
        Err(message) => {
            diag.error(lit.span(), format_args!("invalid `amqp` URL: {message}"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(input: TokenStream) -> Vec<String> {
        let mut d = Diag::new();
        let _ = options(&mut d, input);
        d.messages()
    }

    #[test]
    fn expands_the_given_options() {
        let out = main(quote!(
            amqp = "memory://",
            prefetch = 1024,
            bulk_flush_interval = "5s",
            shutdown_timeout = "30s",
            http = "off"
        ))
        .to_string();
        assert!(out.starts_with("fn main ()"), "{out}");
        let missing: Vec<&str> = [
            "amqp : :: core :: option :: Option :: Some (\"memory://\")",
            "prefetch : :: core :: option :: Option :: Some (1024u16)",
            "Duration :: from_secs (5u64)",
            "http : :: core :: option :: Option :: Some (\"off\")",
            ".. :: core :: default :: Default :: default ()",
            "name : :: core :: env ! (\"CARGO_PKG_NAME\")",
        ]
        .into_iter()
        .filter(|e| !out.contains(e))
        .collect();
        assert!(missing.is_empty(), "{missing:?} not in {out}");
        let out = main(quote!()).to_string();
        assert!(out.contains("run_main"), "{out}");
    }

    #[test]
    fn http_layers_pass_the_function_to_the_entry_point() {
        let out = main(quote!(http_layers = app::layers)).to_string();
        assert!(out.contains("run_main_with_http_layers"), "{out}");
        assert!(out.contains(", app :: layers)"), "{out}");
        assert_eq!(
            errors(quote!(http_layers = "layers")),
            ["`http_layers` takes the path of a `fn(worker::http::Router) -> worker::http::Router`, e.g. `http_layers = layers`"]
        );
    }

    #[test]
    fn errors_still_emit_an_empty_main() {
        let out = main(quote!(prefetch = 0)).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.ends_with("fn main () { }"), "{out}");
        assert!(!out.contains("run_main"), "{out}");
    }

    #[test]
    fn validates_every_option() {
        assert_eq!(
            errors(quote!(amqp = "http://u:secret@h/", prefetch = 0, bulk_flush_interval = "soon",
                http = "localhost", colour = 1, prefetch = 2)),
            [
                "invalid `amqp` URL: expected an `amqp://`, `amqps://` or `memory://` URL, got `http://u:****@h/`",
                "`prefetch` must be in 1..=65535, got `0`",
                "invalid duration `soon`: expected number at 0, expected e.g. `500ms`, `5s` or `1m`",
                "invalid `http` address `localhost`, expected `host:port` with an IP (e.g. `127.0.0.1:8080`) or `off`",
                "unknown option `colour` for `main!`, expected one of `amqp`, `prefetch`, `bulk_flush_interval`, `shutdown_timeout`, `http`, `http_layers`",
                "duplicate option `prefetch`",
            ]
        );
        assert!(errors(quote!(
            amqp = "amqps://h",
            http = "[::1]:80",
            shutdown_timeout = "0s"
        ))
        .is_empty());
    }
}
