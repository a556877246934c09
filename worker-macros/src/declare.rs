//! `declare_queue!("name", queue_type = quorum, delivery_limit = N,
//! connection = "name")`: a queue the application publishes to and no route
//! of its own consumes, declared at startup.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{ParseStream, Parser};
use syn::{LitStr, Token};

use worker_rules::options::{
    CONNECTION, DECLARE_QUEUE_KEYS, DELIVERY_LIMIT, QUEUE_TYPE, QUEUE_TYPES, QUORUM,
};
use worker_rules::{names, route as rules};

use crate::diag::{Diag, Slot};
use crate::route::{key_values, location};
use crate::value::{self, KeyValue};

/// The options of a `declare_queue!`, as read.
#[derive(Default)]
struct Options {
    quorum: Slot<bool>,
    delivery_limit: Slot<Option<u32>>,
    connection: Slot<String>,
}

/// `"queue"`, then the options' tokens.
fn split(input: TokenStream) -> syn::Result<(LitStr, TokenStream)> {
    (|stream: ParseStream<'_>| {
        let queue: LitStr = stream.parse()?;
        let rest: TokenStream = if stream.is_empty() {
            TokenStream::new()
        } else {
            stream.parse::<Token![,]>()?;
            stream.parse()?
        };
        Ok((queue, rest))
    })
    .parse2(input)
    .map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected the queue's name first: `declare_queue!(\"order_events\")`, then options such as `queue_type = quorum`",
        )
    })
}

fn read(diag: &mut Diag, o: &mut Options, kv: &KeyValue) {
    let v = &kv.value;
    match kv.key.to_string().as_str() {
        QUEUE_TYPE => diag.set_once(&mut o.quorum, &kv.key, |d| {
            d.ok(value::choice(QUEUE_TYPE, "queue type", v, QUEUE_TYPES))
                .map(|(name, _)| name == QUORUM)
        }),
        DELIVERY_LIMIT => diag.set_once(&mut o.delivery_limit, &kv.key, |d| {
            d.ok(value::delivery_limit(v))
        }),
        CONNECTION => diag.set_once(&mut o.connection, &kv.key, |d| {
            let lit = d.ok(value::string(CONNECTION, v, "a connection name string"))?;
            match names::connection_name(&lit.value()) {
                Ok(()) => Some(lit.value()),
                Err(message) => {
                    d.error(lit.span(), message);
                    None
                }
            }
        }),
        _ => diag.unknown_key(&kv.key, "`declare_queue!`", DECLARE_QUEUE_KEYS),
    }
}

/// Expands `declare_queue!(...)`: one registration, or the errors.
pub(crate) fn declare_queue(input: TokenStream) -> TokenStream {
    let (queue, rest) = match split(input) {
        Ok(p) => p,
        Err(e) => return e.into_compile_error(),
    };
    let mut diag = Diag::new();
    if let Err(message) = names::queue_name(&queue.value()) {
        diag.error(queue.span(), message);
    }
    let (krate, options) = key_values(&mut diag, rest);
    let mut o = Options::default();
    for kv in &options {
        read(&mut diag, &mut o, kv);
    }
    let quorum = o.quorum.value.unwrap_or(false);
    if let Some(key) = &o.delivery_limit.key {
        if let Err(message) = rules::delivery_limit_needs_quorum(quorum, true) {
            diag.error(key.span(), message);
        }
    }
    let has_errors = diag.has_errors();
    let errors = diag.into_compile_errors();
    if has_errors {
        return errors;
    }
    let connection = match o.connection.value {
        Some(c) => quote!(::core::option::Option::Some(#c)),
        None => quote!(::core::option::Option::None),
    };
    let delivery_limit = match o.delivery_limit.value {
        Some(limit) => {
            let limit = crate::krate::delivery_limit_tokens(limit, &krate);
            quote!(::core::option::Option::Some(#limit))
        }
        None => quote!(::core::option::Option::None),
    };
    let location = location(&krate);
    quote! {
        const _: () = {
            #krate::__private_0_1_0::inventory::submit! {
                #krate::__private_0_1_0::QueueDeclaration {
                    queue: #queue,
                    connection: #connection,
                    quorum: #quorum,
                    delivery_limit: #delivery_limit,
                    module: ::core::module_path!(),
                    location: #location,
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(input: TokenStream) -> String {
        declare_queue(input).to_string()
    }

    #[test]
    fn registers_a_declaration() {
        let out = expand(quote!(
            "order_events",
            queue_type = quorum,
            delivery_limit = 5
        ));
        assert!(out.contains("QueueDeclaration"), "{out}");
        assert!(out.contains("quorum : true"), "{out}");
        assert!(out.contains("DeliveryLimit :: Limited (5u32)"), "{out}");
        let out = expand(quote!(
            "audit",
            queue_type = quorum,
            delivery_limit = "unlimited"
        ));
        assert!(out.contains("DeliveryLimit :: Unlimited"), "{out}");
    }

    #[test]
    fn mistakes_are_reported_together() {
        let out = expand(quote!("amq.x", queue_typ = quorum, delivery_limit = 5));
        assert!(out.contains("`amq.` prefix"), "{out}");
        assert!(out.contains("did you mean `queue_type`"), "{out}");
        assert!(out.contains("quorum"), "{out}");
        assert!(!out.contains("QueueDeclaration"), "{out}");
        let out = expand(quote!(queue = "x"));
        assert!(out.contains("expected the queue's name first"), "{out}");
    }
}
