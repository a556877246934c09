//! The user's `async fn` seen as a handler: signature rules shared by routes
//! and hooks, the per-argument trait checks, and the generated adapter that
//! extracts the arguments, calls the fn and converts its result.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ReturnType, Signature, Type};

use crate::diag::Diag;

/// What the adapter receives and therefore how the first argument is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `fn(Batch, App)`: the first argument is `FromBatch`, the rest `FromApp`.
    Batch,
    /// `fn(App)`: every argument is `FromApp`.
    App,
}

/// A signature that passed the rules below.
pub struct Handler {
    /// The fn's name.
    pub name: Ident,
    /// The argument types, in order (patterns are bound by the adapter).
    pub args: Vec<Type>,
    /// The declared return type (`None` for `()`).
    pub output: Option<Type>,
    /// The span of the argument list's parentheses.
    pub parens: Span,
}

impl Handler {
    /// The name as the registry shows it (`r#type` is `type`).
    pub fn display_name(&self) -> String {
        let name = self.name.to_string();
        name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
    }
}

/// Checks that `sig` can be a handler: an `async fn`, not generic, without
/// `self`, not variadic, not `unsafe`. `what` names the handler in messages
/// (`a route handler`, `a hook`). Errors go to `diag`; `None` if any.
pub fn check(diag: &mut Diag, sig: &Signature, what: &str) -> Option<Handler> {
    let mut ok = true;
    let mut fail = |diag: &mut Diag, tokens: &dyn quote::ToTokens, msg: String| {
        diag.error_spanned(tokens, msg);
        ok = false;
    };
    if sig.asyncness.is_none() {
        fail(diag, &sig.fn_token, format!("{what} must be an `async fn`"));
    }
    if let Some(unsafety) = &sig.unsafety {
        fail(diag, unsafety, format!("{what} cannot be `unsafe`"));
    }
    if let Some(constness) = &sig.constness {
        fail(diag, constness, format!("{what} cannot be a `const fn`"));
    }
    if let Some(abi) = &sig.abi {
        fail(diag, abi, format!("{what} cannot declare an ABI"));
    }
    if !sig.generics.params.is_empty() {
        fail(diag, &sig.generics, format!("{what} cannot be generic"));
    } else if let Some(where_clause) = &sig.generics.where_clause {
        fail(
            diag,
            where_clause,
            format!("{what} cannot have a `where` clause"),
        );
    }
    let mut args = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => fail(
                diag,
                &receiver.self_token,
                format!("{what} cannot take `self`, declare it as a free function outside the `impl` block"),
            ),
            FnArg::Typed(pat_type) => {
                if let Type::ImplTrait(_) = &*pat_type.ty {
                    fail(
                        diag,
                        &pat_type.ty,
                        format!("{what} cannot take `impl Trait` arguments, name the type"),
                    );
                }
                args.push((*pat_type.ty).clone());
            }
        }
    }
    if let Some(variadic) = &sig.variadic {
        fail(diag, variadic, format!("{what} cannot be variadic"));
    }
    if !ok {
        return None;
    }
    Some(Handler {
        name: sig.ident.clone(),
        args,
        output: match &sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some((**ty).clone()),
        },
        parens: sig.paren_token.span.join(),
    })
}

/// Statements asserting, at each argument's type, the trait the adapter
/// needs, so a wrong type is reported on that argument with the trait's
/// `on_unimplemented` note. Emitted only where no adapter is (the adapter's
/// own calls, spanned the same way, already report each mistake once).
pub fn type_checks(handler: &Handler, input: Input) -> TokenStream {
    let checks = handler.args.iter().enumerate().map(|(i, ty)| {
        if i == 0 && input == Input::Batch {
            quote_spanned!(ty.span()=> ::worker::__private::assert_from_batch::<#ty>();)
        } else {
            quote_spanned!(ty.span()=> ::worker::__private::assert_from_app::<#ty>();)
        }
    });
    quote!(#(#checks)*)
}

/// The adapter `__worker_adapter`: `fn(Batch, App)` or `fn(App)` returning
/// a boxed future of `Result<(), ::worker::Error>`. Each trait call is
/// spanned at the argument's (or return) type, so rustc reports a wrong type
/// once, on that type, with the trait's `on_unimplemented` message.
pub fn adapter(handler: &Handler, input: Input) -> TokenStream {
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
            if i == 0 && input == Input::Batch {
                let from_batch =
                    quote_spanned!(ty.span()=> <#ty as ::worker::__private::FromBatch>::from_batch);
                quote! {
                    let #var = match #from_batch(&batch) {
                        ::core::option::Option::Some(value) => value,
                        ::core::option::Option::None => return ::core::result::Result::Ok(()),
                    };
                }
            } else {
                let from_app =
                    quote_spanned!(ty.span()=> <#ty as ::worker::__private::FromApp>::from_app);
                quote!(let #var = #from_app(&app)?;)
            }
        });
    let convert = match &handler.output {
        Some(ty) => quote_spanned!(ty.span()=>
            <#ty as ::worker::__private::IntoHandlerResult>::into_handler_result),
        None => quote_spanned!(name.span()=>
            <() as ::worker::__private::IntoHandlerResult>::into_handler_result),
    };
    let (params, drop_batch) = match input {
        Input::Batch => (
            quote!(batch: ::worker::__private::Batch, app: ::worker::App),
            // Messages share the batch's state: the batch itself can go.
            quote!(::core::mem::drop(batch);),
        ),
        Input::App => (quote!(app: ::worker::App), quote!()),
    };
    quote! {
        fn __worker_adapter(#params) -> ::worker::__private::BoxFuture<
            'static,
            ::core::result::Result<(), ::worker::Error>,
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
    use syn::parse_quote;

    fn errors(sig: Signature) -> Vec<String> {
        let mut d = Diag::new();
        let h = check(&mut d, &sig, "a route handler");
        match d.finish() {
            Ok(()) => {
                assert!(h.is_some());
                vec![]
            }
            Err(e) => {
                assert!(h.is_none());
                e.into_iter().map(|e| e.to_string()).collect()
            }
        }
    }

    #[test]
    fn accepts_async_fns_with_patterns() {
        let sig: Signature = parse_quote!(async fn f(mut m: Vec<Message>, State(db): State<Db>) -> Result<(), Error>);
        let mut d = Diag::new();
        let h = check(&mut d, &sig, "a route handler").unwrap();
        d.finish().unwrap();
        assert_eq!(h.args.len(), 2);
        assert!(h.output.is_some());
        assert_eq!(h.display_name(), "f");
    }

    #[test]
    fn reports_every_signature_mistake() {
        assert_eq!(
            errors(parse_quote!(unsafe fn f<T>(&self, x: impl Sized))),
            [
                "a route handler must be an `async fn`",
                "a route handler cannot be `unsafe`",
                "a route handler cannot be generic",
                "a route handler cannot take `self`, declare it as a free function outside the `impl` block",
                "a route handler cannot take `impl Trait` arguments, name the type",
            ]
        );
        assert_eq!(
            errors(parse_quote!(async fn f() where u8: Copy)),
            ["a route handler cannot have a `where` clause"]
        );
    }

    #[test]
    fn adapter_binds_fresh_idents_and_checks_each_type() {
        let sig: Signature = parse_quote!(async fn f(m: Vec<Message>, State(db): State<Db>));
        let mut d = Diag::new();
        let h = check(&mut d, &sig, "a route handler").unwrap();
        d.finish().unwrap();
        let out = adapter(&h, Input::Batch).to_string();
        assert!(
            out.contains("f (__worker_arg0 , __worker_arg1) . await"),
            "{out}"
        );
        assert!(out.contains("FromBatch > :: from_batch"), "{out}");
        assert!(out.contains("FromApp > :: from_app"), "{out}");
        let checks = type_checks(&h, Input::Batch).to_string();
        assert!(
            checks.contains("assert_from_batch :: < Vec < Message > >"),
            "{checks}"
        );
        assert!(
            checks.contains("assert_from_app :: < State < Db > >"),
            "{checks}"
        );
        let checks = type_checks(&h, Input::App).to_string();
        assert!(!checks.contains("assert_from_batch"), "{checks}");
    }
}
