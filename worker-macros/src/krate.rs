//! `crate = "path"`: where the generated code finds the framework. The
//! default is `::worker` (the facade's library); a renamed dependency, or
//! the framework's own crates (`crate = "worker_core"` in its tests), say
//! otherwise, as tokio's macros allow.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Expr, Path};
use worker_rules::options::CRATE;

use crate::diag::Diag;
use crate::value;

/// The path of the framework in generated code.
#[derive(Clone)]
pub(crate) struct Krate(Path);

impl Default for Krate {
    fn default() -> Self {
        Krate(syn::parse_quote!(::worker))
    }
}

impl Krate {
    /// Reads `crate = "path"`; errors (a non-string, not a path) go to `diag`.
    pub(crate) fn read(diag: &mut Diag, v: &Expr) -> Option<Krate> {
        let lit = diag.ok(value::string(CRATE, v, "a path string like `\"worker\"`"))?;
        match syn::parse_str::<Path>(&lit.value()) {
            Ok(path) => Some(Krate(path)),
            Err(_) => {
                diag.error(
                    lit.span(),
                    format_args!(
                        "invalid `crate` path `{}`, expected a path like `\"worker\"` or `\"::my_deps::worker\"`",
                        lit.value()
                    ),
                );
                None
            }
        }
    }
}

impl Krate {
    /// The path with every token at `span`, for `quote_spanned!`: rustc
    /// points errors of the spanned expression there, not at the attribute.
    pub(crate) fn at(&self, span: proc_macro2::Span) -> TokenStream {
        self.0
            .to_token_stream()
            .into_iter()
            .map(|mut t| {
                t.set_span(span);
                t
            })
            .collect()
    }
}

impl ToTokens for Krate {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.0.to_tokens(tokens);
    }
}

/// The tokens of a delivery limit read by [`value::delivery_limit`]
/// (`None`: unlimited).
pub(crate) fn delivery_limit_tokens(limit: Option<u32>, krate: &Krate) -> TokenStream {
    match limit {
        Some(n) => quote::quote!(#krate::__private_0_1_0::DeliveryLimit::Limited(#n)),
        None => quote::quote!(#krate::__private_0_1_0::DeliveryLimit::Unlimited),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse_quote;

    #[test]
    fn default_and_given_paths() {
        let k = Krate::default();
        assert_eq!(quote!(#k).to_string(), ":: worker");
        let mut d = Diag::new();
        let k = Krate::read(&mut d, &parse_quote!("worker_core")).unwrap();
        assert_eq!(quote!(#k).to_string(), "worker_core");
        assert!(Krate::read(&mut d, &parse_quote!("not a path")).is_none());
        assert!(Krate::read(&mut d, &parse_quote!(worker)).is_none());
        let errors = d.messages();
        assert_eq!(
            errors,
            [
                "invalid `crate` path `not a path`, expected a path like `\"worker\"` or `\"::my_deps::worker\"`",
                "expected a path string like `\"worker\"` for `crate`",
            ]
        );
    }
}
