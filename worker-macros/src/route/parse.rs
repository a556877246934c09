//! Syntax of `#[route(<backend>, key = value, ...)]`: the backend and the
//! raw options. Values are checked in `validate`.

use proc_macro2::{Span, TokenStream};
use syn::{Ident, Meta};

use worker_rules::one_of;
use worker_rules::options::{AMQP, BACKENDS, CRATE, CRON, EVERY, HTTP, SSE};

use crate::diag::{Diag, Slot};
use crate::krate::Krate;
use crate::value::{self, KeyValue};

/// The source of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// RabbitMQ queues, consumed in batches.
    Amqp,
    /// A recurring timer.
    Every,
    /// A cron schedule.
    Cron,
    /// HTTP requests.
    Http,
    /// A Server-Sent-Events stream.
    Sse,
}

impl Backend {
    fn from_name(name: &str) -> Option<Backend> {
        match name {
            AMQP => Some(Backend::Amqp),
            EVERY => Some(Backend::Every),
            CRON => Some(Backend::Cron),
            HTTP => Some(Backend::Http),
            SSE => Some(Backend::Sse),
            _ => None,
        }
    }
}

/// The parsed attribute.
pub(crate) struct RouteAttr {
    /// The backend.
    pub backend: Backend,
    /// The backend as written, where backend-level errors point.
    pub backend_ident: Ident,
    /// The `key = value` options, in order (`crate` aside).
    pub options: Vec<KeyValue>,
    /// Where the generated code finds the framework (`crate = "..."`).
    pub krate: Krate,
}

/// Parses the attribute's arguments. Returns `None` when the backend is
/// missing or unknown (then the options cannot be checked); every error is
/// in `diag`.
pub(crate) fn parse(diag: &mut Diag, attr: TokenStream) -> Option<RouteAttr> {
    let items = match value::parse_items(attr) {
        Ok(items) => items,
        Err(e) => {
            diag.push(e);
            return None;
        }
    };
    let mut items = items.into_iter();
    let backend_ident = match items.next() {
        Some(Meta::Path(path)) if path.get_ident().is_some() => path.get_ident().cloned()?,
        Some(other) => {
            diag.error_spanned(&other, missing_backend());
            return None;
        }
        None => {
            diag.error(Span::call_site(), missing_backend());
            return None;
        }
    };
    let Some(backend) = Backend::from_name(&backend_ident.to_string()) else {
        diag.error(
            backend_ident.span(),
            format_args!(
                "unknown backend `{backend_ident}`{}, expected one of {}",
                worker_rules::suggest::did_you_mean(&backend_ident.to_string(), BACKENDS),
                one_of(BACKENDS)
            ),
        );
        return None;
    };
    let options = items
        .filter_map(|meta| value::key_value(diag, meta))
        .collect();
    let (krate, options) = krate_option(diag, options);
    Some(RouteAttr {
        backend,
        backend_ident,
        options,
        krate,
    })
}

/// The `key = value` options of a hook attribute or `main!`, with
/// `crate = "..."` taken out; syntax errors go to `diag` (then no option).
pub(crate) fn key_values(diag: &mut Diag, tokens: TokenStream) -> (Krate, Vec<KeyValue>) {
    match value::parse_items(tokens) {
        Ok(items) => {
            let kvs = items
                .into_iter()
                .filter_map(|meta| value::key_value(diag, meta))
                .collect();
            krate_option(diag, kvs)
        }
        Err(e) => {
            diag.push(e);
            (Krate::default(), Vec::new())
        }
    }
}

/// Takes `crate = "..."` out of the options: every attribute accepts it,
/// whatever the backend.
pub(crate) fn krate_option(diag: &mut Diag, options: Vec<KeyValue>) -> (Krate, Vec<KeyValue>) {
    let mut krate = Slot::default();
    let mut rest = Vec::with_capacity(options.len());
    for kv in options {
        if kv.key == CRATE {
            diag.set_once(&mut krate, &kv.key, |d| Krate::read(d, &kv.value));
        } else {
            rest.push(kv);
        }
    }
    (krate.value.unwrap_or_default(), rest)
}

fn missing_backend() -> String {
    format!(
        "expected a backend as the first argument, one of {}",
        one_of(BACKENDS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_errors(attr: TokenStream) -> (Option<Backend>, Vec<String>) {
        let mut d = Diag::new();
        let parsed = parse(&mut d, attr).map(|a| a.backend);
        let errors = d.messages();
        (parsed, errors)
    }

    #[test]
    fn reads_the_backend_and_options() {
        let mut d = Diag::new();
        let a = parse(&mut d, quote!(amqp, queues = ["a"], bulk_size = 10)).unwrap();
        d.finish().unwrap();
        assert_eq!(a.backend, Backend::Amqp);
        let keys: Vec<String> = a.options.iter().map(|o| o.key.to_string()).collect();
        assert_eq!(keys, ["queues", "bulk_size"]);
        assert_eq!(
            parse_errors(quote!(every, interval = "1s")).0,
            Some(Backend::Every)
        );
        assert_eq!(parse_errors(quote!(http)).0, Some(Backend::Http));
        assert_eq!(parse_errors(quote!(sse,)).0, Some(Backend::Sse));
    }

    #[test]
    fn rejects_unknown_and_missing_backends() {
        assert_eq!(
            parse_errors(quote!(foo, queues = ["a"])),
            (
                None,
                vec![
                    "unknown backend `foo`, expected one of `amqp`, `cron`, `every`, `http`, `sse`"
                        .to_owned()
                ]
            )
        );
        for attr in [quote!(), quote!(queues = ["a"]), quote!(amqp::x)] {
            let (b, e) = parse_errors(attr);
            assert_eq!(b, None);
            assert_eq!(e.len(), 1);
            assert!(e[0] == "expected a backend as the first argument, one of `amqp`, `cron`, `every`, `http`, `sse`", "{e:?}");
        }
    }

    #[test]
    fn syntax_errors_are_reported() {
        let (b, e) = parse_errors(quote!(amqp, queues = ));
        assert_eq!(b, None);
        assert_eq!(e.len(), 1);
    }
}
