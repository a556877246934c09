//! The `key = value` syntax of macro arguments and readers for each kind of
//! value. Readers return the error under the offending token.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitStr, Meta, Token, UnOp};

use worker_rules::bounds::Bound;
use worker_rules::one_of;

use crate::diag::Diag;

/// One `key = value` option.
pub(crate) struct KeyValue {
    /// The option name.
    pub key: Ident,
    /// Its value, checked by the readers below.
    pub value: Expr,
}

/// Splits `a, b = 1, c = "x"` into items.
pub(crate) fn parse_items(tokens: TokenStream) -> syn::Result<Punctuated<Meta, Token![,]>> {
    Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens)
}

/// The `key = value` form of `meta`, or an error under it.
pub(crate) fn key_value(diag: &mut Diag, meta: Meta) -> Option<KeyValue> {
    match meta {
        Meta::NameValue(nv) => match nv.path.get_ident() {
            Some(key) => Some(KeyValue {
                key: key.clone(),
                value: nv.value,
            }),
            None => {
                diag.error_spanned(&nv.path, "expected an option name");
                None
            }
        },
        Meta::Path(path) => {
            match path.get_ident() {
                Some(key) => diag.error_spanned(
                    &path,
                    format_args!(
                        "expected `{key} = <value>`, options are written as `key = value`"
                    ),
                ),
                None => diag.error_spanned(&path, "expected an option name"),
            }
            None
        }
        Meta::List(list) => {
            diag.error_spanned(
                &list,
                "expected `key = value`, options are written as `key = value`",
            );
            None
        }
    }
}

/// A string literal.
pub(crate) fn string(key: &str, expr: &Expr, expected: &str) -> syn::Result<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        _ => Err(syn::Error::new_spanned(
            expr,
            format_args!("expected {expected} for `{key}`"),
        )),
    }
}

/// An integer literal within `bound` (from `worker_rules::bounds`), with
/// the rule's message under it otherwise.
pub(crate) fn int(expr: &Expr, bound: &Bound) -> syn::Result<i128> {
    let key = bound.option;
    let (negative, lit) = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => (false, i),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr: inner,
            ..
        }) => match &**inner {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => (true, i),
            _ => return Err(expected_int(key, expr)),
        },
        _ => return Err(expected_int(key, expr)),
    };
    let value = lit
        .base10_parse::<i128>()
        .ok()
        .map(|v| if negative { -v } else { v });
    match value {
        Some(v) if bound.contains(v) => Ok(v),
        _ => {
            let written = if negative {
                format!("-{}", lit.base10_digits())
            } else {
                lit.base10_digits().to_owned()
            };
            Err(syn::Error::new_spanned(expr, bound.message(&written)))
        }
    }
}

/// `delivery_limit = N` (within its bound) or `delivery_limit =
/// "unlimited"`: `Some(n)`, or `None` for unlimited.
pub(crate) fn delivery_limit(expr: &Expr) -> syn::Result<Option<u32>> {
    if let Expr::Lit(ExprLit {
        lit: Lit::Str(s), ..
    }) = expr
    {
        return match s.value().as_str() {
            "unlimited" => Ok(None),
            other => Err(syn::Error::new(
                s.span(),
                format_args!(
                    "expected a number of returns (1..) or \"unlimited\" for `delivery_limit`, got `\"{other}\"`"
                ),
            )),
        };
    }
    let n = int(expr, &worker_rules::bounds::DELIVERY_LIMIT).map_err(|e| {
        let text = e.to_string().replacen(", got", " or \"unlimited\", got", 1);
        syn::Error::new(e.span(), text)
    })?;
    Ok(Some(u32::try_from(n).unwrap_or(u32::MAX)))
}

fn expected_int(key: &str, expr: &Expr) -> syn::Error {
    syn::Error::new_spanned(expr, format_args!("expected an integer for `{key}`"))
}

/// `true` or `false`.
pub(crate) fn boolean(key: &str, expr: &Expr) -> syn::Result<bool> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.value),
        _ => Err(syn::Error::new_spanned(
            expr,
            format_args!("expected `true` or `false` for `{key}`"),
        )),
    }
}

/// A bare identifier among `choices` (`on_success = ack`); `what` names the
/// kind of value in the error (`action`, `method`).
pub(crate) fn choice(
    key: &str,
    what: &str,
    expr: &Expr,
    choices: &[&'static str],
) -> syn::Result<(&'static str, Ident)> {
    if let Some(ident) = bare_ident(expr) {
        let name = ident.to_string();
        return match choices.iter().find(|c| **c == name) {
            Some(c) => Ok((c, ident.clone())),
            None => Err(syn::Error::new(
                ident.span(),
                format_args!(
                    "unknown {what} `{name}`{}, expected one of {}",
                    worker_rules::suggest::did_you_mean(&name, choices),
                    one_of(choices)
                ),
            )),
        };
    }
    let hint = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) if choices.contains(&s.value().as_str()) => ", written without quotes",
        _ => "",
    };
    Err(syn::Error::new_spanned(
        expr,
        format_args!("expected one of {} for `{key}`{hint}", one_of(choices)),
    ))
}

/// The identifier of a one-segment path expression.
pub(crate) fn bare_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
        _ => None,
    }
}

/// The elements of `[a, b]`.
pub(crate) fn list<'a>(key: &str, expr: &'a Expr, example: &str) -> syn::Result<Vec<&'a Expr>> {
    match expr {
        Expr::Array(a) => Ok(a.elems.iter().collect()),
        _ => Err(syn::Error::new_spanned(
            expr,
            format_args!("expected a list like `{example}` for `{key}`"),
        )),
    }
}

/// `["a", "b"]`: every element must be a string literal (errors per element).
pub(crate) fn string_list(diag: &mut Diag, key: &str, expr: &Expr) -> Option<Vec<LitStr>> {
    let items = diag.ok(list(key, expr, "[\"a\", \"b\"]"))?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match string(key, item, "a string literal") {
            Ok(s) => out.push(s),
            Err(e) => {
                diag.push(e);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn reads_integers_in_range() {
        use worker_rules::bounds::{BULK_SIZE, MAX_CONCURRENCY, ORDER, PREFETCH};
        assert_eq!(int(&parse_quote!(2014), &BULK_SIZE).unwrap(), 2014);
        assert_eq!(int(&parse_quote!(-3), &ORDER).unwrap(), -3);
        let e = int(&parse_quote!(0), &BULK_SIZE).unwrap_err();
        assert_eq!(e.to_string(), "`bulk_size` must be in 1..=65535, got `0`");
        let e = int(&parse_quote!(70000), &BULK_SIZE).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`bulk_size` must be in 1..=65535, got `70000`"
        );
        let e = int(&parse_quote!(-1), &BULK_SIZE).unwrap_err();
        assert_eq!(e.to_string(), "`bulk_size` must be in 1..=65535, got `-1`");
        let e = int(&parse_quote!(0), &MAX_CONCURRENCY).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`max_concurrency` must be at least 1, got `0`"
        );
        let e = int(&parse_quote!("10"), &BULK_SIZE).unwrap_err();
        assert_eq!(e.to_string(), "expected an integer for `bulk_size`");
        let huge: Expr = parse_quote!(999999999999999999999999999999999999999999);
        assert!(int(&huge, &PREFETCH).is_err());
    }

    #[test]
    fn reads_choices() {
        let (c, _) = choice(
            "on_success",
            "action",
            &parse_quote!(ack),
            &["ack", "reject"],
        )
        .unwrap();
        assert_eq!(c, "ack");
        let e = choice(
            "on_success",
            "action",
            &parse_quote!(nack),
            &["ack", "reject"],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown action `nack` (did you mean `reject`?), expected one of `ack`, `reject`"
        );
        let e = choice(
            "on_success",
            "action",
            &parse_quote!("ack"),
            &["ack", "reject"],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected one of `ack`, `reject` for `on_success`, written without quotes"
        );
    }

    #[test]
    fn reads_booleans_and_string_lists() {
        assert!(boolean("declare", &parse_quote!(true)).unwrap());
        assert!(boolean("declare", &parse_quote!(yes)).is_err());
        let mut d = Diag::new();
        let l = string_list(&mut d, "queues", &parse_quote!(["a", "b"])).unwrap();
        assert_eq!(l.iter().map(LitStr::value).collect::<Vec<_>>(), ["a", "b"]);
        assert!(string_list(&mut d, "queues", &parse_quote!(["a", 1, b])).is_none());
        assert_eq!(d.finish().unwrap_err().into_iter().count(), 2);
    }

    #[test]
    fn options_must_be_key_value() {
        let items = parse_items(quote::quote!(a = 1, b, c(1), d::e = 2)).unwrap();
        let mut d = Diag::new();
        let kvs: Vec<_> = items
            .into_iter()
            .filter_map(|m| key_value(&mut d, m))
            .collect();
        assert_eq!(kvs.len(), 1);
        assert_eq!(kvs[0].key, "a");
        let msgs = d.messages();
        assert_eq!(
            msgs,
            [
                "expected `b = <value>`, options are written as `key = value`",
                "expected `key = value`, options are written as `key = value`",
                "expected an option name",
            ]
        );
    }
}
