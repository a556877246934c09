//! The user's `async fn` seen as a handler: the signature rules shared by
//! routes and hooks ([`check`]), and what the generated code needs to know
//! of it ([`Handler`]). The adapter built from it is in `adapter.rs`.

use proc_macro2::Span;
use syn::{FnArg, Ident, ReturnType, Signature, Type};

use crate::diag::Diag;

/// A signature that passed the rules below.
pub(crate) struct Handler {
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
    pub(crate) fn display_name(&self) -> String {
        let name = self.name.to_string();
        name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
    }
}

/// Checks that `sig` can be a handler: an `async fn`, not generic, without
/// `self`, not variadic, not `unsafe`. `what` names the handler in messages
/// (`a route handler`, `a hook`). Errors go to `diag`; `None` if any.
pub(crate) fn check(diag: &mut Diag, sig: &Signature, what: &str) -> Option<Handler> {
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
}
