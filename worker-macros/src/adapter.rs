//! The generated adapter `__worker_adapter` of a handler: extracts the
//! arguments through the runtime's traits, calls the user's fn and converts
//! its result; and, where no adapter is emitted, the same trait checks alone.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Ident;

use crate::krate::Krate;
use crate::signature::Handler;

/// What the adapter receives and therefore how the first argument is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// `fn(Batch, App)`: the first argument is `FromBatch`, the rest `FromApp`.
    Batch,
    /// `fn(App)`: every argument is `FromApp`.
    App,
    /// `fn(SseBatch, App)`: the first argument is `FromEvents`, the rest
    /// `FromApp`.
    Events,
}

/// Statements asserting, at each argument's type, the trait the adapter
/// needs, so a wrong type is reported on that argument with the trait's
/// `on_unimplemented` note. Emitted only where no adapter is (the adapter's
/// own calls, spanned the same way, already report each mistake once).
pub(crate) fn type_checks(handler: &Handler, input: Input, krate: &Krate) -> TokenStream {
    let checks = handler.args.iter().enumerate().map(|(i, ty)| {
        let krate = krate.at(ty.span());
        if i == 0 && input == Input::Batch {
            quote_spanned!(ty.span()=> #krate::__private_0_1_0::assert_from_batch::<#ty>();)
        } else if i == 0 && input == Input::Events {
            quote_spanned!(ty.span()=> #krate::__private_0_1_0::sse::assert_from_events::<#ty>();)
        } else {
            quote_spanned!(ty.span()=> #krate::__private_0_1_0::assert_from_app::<#ty>();)
        }
    });
    quote!(#(#checks)*)
}

/// The adapter `__worker_adapter`: `fn(Batch, App)` or `fn(App)` returning
/// a boxed future of `Result<(), Error>`. Each trait call is
/// spanned at the argument's (or return) type, so rustc reports a wrong type
/// once, on that type, with the trait's `on_unimplemented` message.
pub(crate) fn adapter(handler: &Handler, input: Input, krate: &Krate) -> TokenStream {
    let name = &handler.name;
    let vars: Vec<Ident> = (0..handler.args.len())
        .map(|i| format_ident!("__worker_arg{}", i))
        .collect();
    let bindings = handler
        .args
        .iter()
        .zip(&vars)
        .enumerate()
        .map(|(i, (ty, var))| {
            let at = krate.at(ty.span());
            if i == 0 && input != Input::App {
                let from_batch = match input {
                    Input::Events => quote_spanned!(ty.span()=>
                        <#ty as #at::__private_0_1_0::sse::FromEvents>::from_events),
                    _ => quote_spanned!(ty.span()=>
                        <#ty as #at::__private_0_1_0::FromBatch>::from_batch),
                };
                quote! {
                    let #var = match #from_batch(&batch) {
                        ::core::option::Option::Some(value) => value,
                        ::core::option::Option::None => return ::core::result::Result::Ok(()),
                    };
                }
            } else {
                let from_app =
                    quote_spanned!(ty.span()=> <#ty as #at::__private_0_1_0::FromApp>::from_app);
                quote!(let #var = #from_app(&app)?;)
            }
        });
    let convert = match &handler.output {
        Some(ty) => {
            let at = krate.at(ty.span());
            quote_spanned!(ty.span()=>
                <#ty as #at::__private_0_1_0::IntoHandlerResult>::into_handler_result)
        }
        None => {
            let at = krate.at(name.span());
            quote_spanned!(name.span()=>
                <() as #at::__private_0_1_0::IntoHandlerResult>::into_handler_result)
        }
    };
    let (params, drop_batch) = match input {
        Input::Batch => (
            quote!(batch: #krate::__private_0_1_0::Batch, app: #krate::__private_0_1_0::App),
            // Messages share the batch's state: the batch itself can go.
            quote!(::core::mem::drop(batch);),
        ),
        Input::Events => (
            quote!(batch: #krate::__private_0_1_0::sse::SseBatch, app: #krate::__private_0_1_0::App),
            quote!(::core::mem::drop(batch);),
        ),
        Input::App => (quote!(app: #krate::__private_0_1_0::App), quote!()),
    };
    quote! {
        fn __worker_adapter(#params) -> #krate::__private_0_1_0::BoxFuture<
            'static,
            ::core::result::Result<(), #krate::__private_0_1_0::Error>,
        > {
            ::std::boxed::Box::pin(async move {
                #(#bindings)*
                #drop_batch
                ::core::mem::drop(app);
                #convert(#name(#(#vars),*).await)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diag;
    use crate::signature::check;
    use syn::{parse_quote, Signature};

    #[test]
    fn adapter_binds_fresh_idents_and_checks_each_type() {
        let sig: Signature = parse_quote!(async fn f(m: Vec<Message>, State(db): State<Db>));
        let mut d = Diag::new();
        let h = check(&mut d, &sig, "a route handler").unwrap();
        d.finish().unwrap();
        let out = adapter(&h, Input::Batch, &Krate::default()).to_string();
        assert!(
            out.contains("f (__worker_arg0 , __worker_arg1) . await"),
            "{out}"
        );
        assert!(out.contains("FromBatch > :: from_batch"), "{out}");
        assert!(out.contains("FromApp > :: from_app"), "{out}");
        let checks = type_checks(&h, Input::Batch, &Krate::default()).to_string();
        assert!(
            checks.contains("assert_from_batch :: < Vec < Message > >"),
            "{checks}"
        );
        assert!(
            checks.contains("assert_from_app :: < State < Db > >"),
            "{checks}"
        );
        let checks = type_checks(&h, Input::App, &Krate::default()).to_string();
        assert!(!checks.contains("assert_from_batch"), "{checks}");
    }
}
