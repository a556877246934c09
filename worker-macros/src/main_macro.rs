//! `worker::main!(key = value, ...)`: generates `fn main` running the app
//! with the given defaults (the environment overrides them at startup).

use std::net::SocketAddr;

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

use crate::diag::{one_of, Diag, Slot};
use crate::duration;
use crate::symbols::*;
use crate::value::{self, KeyValue};

/// Expands `main!(input)`. On any error: the errors and an empty
/// `fn main() {}`, so rustc does not add "`main` function not found".
pub fn main(input: TokenStream) -> TokenStream {
    let mut diag = Diag::new();
    let fields = options(&mut diag, input);
    if diag.has_errors() {
        let errors = diag.into_compile_errors();
        return quote! {
            #errors
            fn main() {}
        };
    }
    diag.finish().expect("no errors");
    quote! {
        fn main() {
            ::worker::__private::run_main(
                ::worker::__private::MainOptions {
                    #(#fields)*
                    ..::core::default::Default::default()
                },
                ::worker::__private::Program {
                    name: ::core::env!("CARGO_PKG_NAME"),
                    version: ::core::env!("CARGO_PKG_VERSION"),
                },
            )
        }
    }
}

/// The `MainOptions` fields that were given.
fn options(diag: &mut Diag, input: TokenStream) -> Vec<TokenStream> {
    let items = match value::parse_items(input) {
        Ok(items) => items,
        Err(e) => {
            diag.push(e);
            return Vec::new();
        }
    };
    let mut amqp = Slot::default();
    let mut prefetch = Slot::<u16>::default();
    let mut flush_timeout = Slot::default();
    let mut shutdown_timeout = Slot::default();
    let mut http = Slot::default();
    for meta in items {
        let Some(KeyValue { key, value: v }) = value::key_value(diag, meta) else {
            continue;
        };
        match key.to_string().as_str() {
            MAIN_AMQP => diag.set_once(&mut amqp, &key, |d| {
                let lit = d.ok(value::string(MAIN_AMQP, &v, "a URL string like `\"memory://\"`"))?;
                check_amqp_url(d, &lit).then_some(lit)
            }),
            PREFETCH => diag.set_once(&mut prefetch, &key, |d| {
                d.ok(value::int(PREFETCH, &v, 1, 65535))
                    .and_then(|n| u16::try_from(n).ok())
            }),
            FLUSH_TIMEOUT => diag.set_once(&mut flush_timeout, &key, |d| {
                d.ok(duration::read_positive(FLUSH_TIMEOUT, &v))
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
    if let Some(d) = flush_timeout.value {
        let d = duration::to_tokens(d);
        fields.push(quote!(flush_timeout: ::core::option::Option::Some(#d),));
    }
    if let Some(d) = shutdown_timeout.value {
        let d = duration::to_tokens(d);
        fields.push(quote!(shutdown_timeout: ::core::option::Option::Some(#d),));
    }
    if let Some(addr) = http.value {
        fields.push(quote!(http: ::core::option::Option::Some(#addr),));
    }
    fields
}

fn check_amqp_url(diag: &mut Diag, lit: &LitStr) -> bool {
    let url = lit.value();
    if AMQP_SCHEMES.iter().any(|s| url.starts_with(s)) {
        return true;
    }
    diag.error(
        lit.span(),
        format_args!(
            "invalid `amqp` URL `{}`, expected a URL starting with one of {}",
            mask_password(&url),
            one_of(AMQP_SCHEMES)
        ),
    );
    false
}

/// Never echo a password back, even in a compile error.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            let path = &rest[authority.len()..];
            format!("{scheme}://{user}:****@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(input: TokenStream) -> Vec<String> {
        let mut d = Diag::new();
        options(&mut d, input);
        match d.finish() {
            Ok(()) => vec![],
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn expands_the_given_options() {
        let out = main(quote!(
            amqp = "memory://",
            prefetch = 1024,
            flush_timeout = "5s",
            shutdown_timeout = "30s",
            http = "off"
        ))
        .to_string();
        assert!(out.starts_with("fn main ()"), "{out}");
        assert!(
            out.contains("amqp : :: core :: option :: Option :: Some (\"memory://\")"),
            "{out}"
        );
        assert!(
            out.contains("prefetch : :: core :: option :: Option :: Some (1024u16)"),
            "{out}"
        );
        assert!(out.contains("Duration :: from_secs (5u64)"), "{out}");
        assert!(
            out.contains("http : :: core :: option :: Option :: Some (\"off\")"),
            "{out}"
        );
        assert!(
            out.contains(".. :: core :: default :: Default :: default ()"),
            "{out}"
        );
        let out = main(quote!()).to_string();
        assert!(out.contains("run_main"), "{out}");
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
            errors(quote!(amqp = "http://u:secret@h/", prefetch = 0, flush_timeout = "soon",
                http = "localhost", colour = 1, prefetch = 2)),
            [
                "invalid `amqp` URL `http://u:****@h/`, expected a URL starting with one of `amqp://`, `amqps://`, `memory://`",
                "`prefetch` must be in 1..=65535, got `0`",
                "invalid duration `soon`: expected number at 0, expected e.g. `500ms`, `5s` or `1m`",
                "invalid `http` address `localhost`, expected `host:port` with an IP (e.g. `127.0.0.1:8080`) or `off`",
                "unknown option `colour` for `main!`, expected one of `amqp`, `prefetch`, `flush_timeout`, `shutdown_timeout`, `http`",
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
