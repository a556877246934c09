//! `#[on_startup]` and `#[on_shutdown]`: lifecycle hooks with an optional
//! `order = N`. Same signature rules as `every` handlers.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ItemFn;

use worker_rules::bounds;
use worker_rules::options::{HOOK_KEYS, ORDER};

use crate::adapter::{self, Input};
use crate::diag::{Diag, Slot};
use crate::krate::Krate;
use crate::route::{key_values, location};
use crate::signature;
use crate::value;

/// Which hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    /// `#[on_startup]`.
    Startup,
    /// `#[on_shutdown]`.
    Shutdown,
}

impl HookKind {
    fn attribute(self) -> &'static str {
        match self {
            HookKind::Startup => "on_startup",
            HookKind::Shutdown => "on_shutdown",
        }
    }
}

/// Expands a hook attribute; the user's fn is always emitted unchanged.
pub(crate) fn hook(kind: HookKind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let attribute = kind.attribute();
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                format!("`#[{attribute}]` can only be applied to an `async fn`"),
            )
            .into_compile_error();
            return quote!(#item #error);
        }
    };
    let mut diag = Diag::new();
    let (order, krate) = options(&mut diag, attr, attribute);
    let handler = signature::check(&mut diag, &func.sig, "a hook");
    let has_errors = diag.has_errors();
    let errors = diag.into_compile_errors();
    let Some(handler) = handler else {
        return quote!(#func #errors);
    };
    if has_errors {
        // No adapter: still check the argument types in this compile.
        let checks = adapter::type_checks(&handler, Input::App, &krate);
        return quote! {
            #func
            #errors
            const _: () = {
                #[allow(dead_code)]
                fn __worker_checks() {
                    #checks
                }
            };
        };
    }
    // The adapter's trait calls, spanned at each argument, are the checks.
    let adapter = adapter::adapter(&handler, Input::App, &krate);
    let name = handler.display_name();
    let location = location(&krate);
    let kind = match kind {
        HookKind::Startup => quote!(#krate::__private_0_1_0::HookKind::Startup),
        HookKind::Shutdown => quote!(#krate::__private_0_1_0::HookKind::Shutdown),
    };
    quote! {
        #func
        const _: () = {
            #adapter
            #krate::__private_0_1_0::inventory::submit! {
                #krate::__private_0_1_0::Hook {
                    kind: #kind,
                    order: #order,
                    name: #name,
                    module: ::core::module_path!(),
                    location: #location,
                    handler: __worker_adapter,
                }
            }
        };
    }
}

/// Reads `order = N` (default 0) and `crate = "..."`.
fn options(diag: &mut Diag, attr: TokenStream, attribute: &str) -> (i32, Krate) {
    let (krate, kvs) = key_values(diag, attr);
    let mut order = Slot::default();
    for kv in kvs {
        if kv.key == ORDER {
            diag.set_once(&mut order, &kv.key, |d| {
                d.ok(value::int(&kv.value, &bounds::ORDER))
                    .and_then(|n| i32::try_from(n).ok())
            });
        } else {
            diag.unknown_key(&kv.key, &format!("`#[{attribute}]`"), HOOK_KEYS);
        }
    }
    (order.value.unwrap_or(0), krate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(attr: TokenStream) -> (i32, Vec<String>) {
        let mut d = Diag::new();
        let (order, _) = options(&mut d, attr, "on_startup");
        let e = d.messages();
        (order, e)
    }

    #[test]
    fn reads_the_order() {
        assert_eq!(errors(quote!()), (0, vec![]));
        assert_eq!(errors(quote!(order = -5)), (-5, vec![]));
        assert_eq!(
            errors(quote!(order = 1, order = 2, priority = 3)),
            (
                1,
                vec![
                    "duplicate option `order`".to_owned(),
                    "unknown option `priority` for `#[on_startup]`, expected one of `order`"
                        .to_owned()
                ]
            )
        );
    }

    #[test]
    fn emits_a_hook_record() {
        let out = hook(
            HookKind::Shutdown,
            quote!(order = 2),
            quote!(
                async fn bye(app: App) {}
            ),
        )
        .to_string();
        assert!(out.contains("HookKind :: Shutdown"), "{out}");
        assert!(out.contains("order : 2i32"), "{out}");
        assert!(
            out.contains("< App as :: worker :: __private_0_1_0 :: FromApp > :: from_app"),
            "{out}"
        );
        let out = hook(
            HookKind::Startup,
            quote!(),
            quote!(
                fn init() {}
            ),
        )
        .to_string();
        assert!(out.contains("a hook must be an `async fn`"), "{out}");
        assert!(!out.contains("submit"), "{out}");
    }
}
