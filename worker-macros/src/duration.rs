//! Duration strings (`"500ms"`, `"5s"`, `"1m"`), parsed with humantime and
//! emitted as a const `Duration` (through the framework's `__private`).

use std::time::Duration;

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, LitStr};

use crate::krate::Krate;
use crate::value;

/// Reads `key = "5s"`: a string literal that humantime parses. A bare
/// number (`5`) is refused with the string to write instead.
pub(crate) fn read(key: &str, expr: &Expr) -> syn::Result<Duration> {
    if let Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(_) | syn::Lit::Float(_),
        ..
    }) = expr
    {
        let number = quote!(#expr).to_string();
        return Err(syn::Error::new_spanned(
            expr,
            format_args!(
                "expected a duration string for `{key}`: write `\"{number}s\"` (or another unit: `ms`, `m`, `h`)"
            ),
        ));
    }
    let lit = value::string(key, expr, "a duration string like `\"5s\"`")?;
    parse(&lit)
}

/// Like [`read`], but zero is an error.
pub(crate) fn read_positive(key: &str, expr: &Expr) -> syn::Result<Duration> {
    let d = read(key, expr)?;
    if let Err(message) = worker_rules::route::positive(key, d) {
        return Err(syn::Error::new_spanned(expr, message));
    }
    Ok(d)
}

/// Parses a duration literal, with the error on the literal.
pub(crate) fn parse(lit: &LitStr) -> syn::Result<Duration> {
    let text = lit.value();
    if text.trim().parse::<f64>().is_ok() {
        return Err(syn::Error::new(
            lit.span(),
            format_args!(
                "invalid duration `{text}`: a unit is needed; write `\"{}s\"` (or another unit: `ms`, `m`, `h`)",
                text.trim()
            ),
        ));
    }
    humantime::parse_duration(text.trim()).map_err(|e| {
        syn::Error::new(
            lit.span(),
            format_args!(
                "invalid duration `{text}`: {}, expected e.g. `500ms`, `5s` or `1m`",
                lowercase_first(&e.to_string())
            ),
        )
    })
}

/// The const expression of `d`, in the most readable unit.
pub(crate) fn to_tokens(d: Duration, krate: &Krate) -> TokenStream {
    let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
    if nanos == 0 {
        quote!(#krate::__private_0_1_0::Duration::from_secs(#secs))
    } else if nanos % 1_000_000 == 0 && secs < u64::MAX / 1000 {
        let millis = secs * 1000 + u64::from(nanos / 1_000_000);
        quote!(#krate::__private_0_1_0::Duration::from_millis(#millis))
    } else {
        quote!(#krate::__private_0_1_0::Duration::new(#secs, #nanos))
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, proc_macro2::Span::call_site())
    }

    #[test]
    fn parses_humantime_strings() {
        assert_eq!(parse(&lit("500ms")).unwrap(), Duration::from_millis(500));
        assert_eq!(parse(&lit("5s")).unwrap(), Duration::from_secs(5));
        assert_eq!(parse(&lit("1m")).unwrap(), Duration::from_secs(60));
        assert_eq!(parse(&lit("1m 30s")).unwrap(), Duration::from_secs(90));
    }

    #[test]
    fn rejects_bad_strings_naming_the_input() {
        for bad in ["", "five seconds", "5 parsecs", "-1s"] {
            let e = parse(&lit(bad)).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid duration `{bad}`")), "{e}");
            assert!(e.ends_with("expected e.g. `500ms`, `5s` or `1m`"), "{e}");
        }
    }

    #[test]
    fn zero_is_rejected_where_positive() {
        let e: Expr = syn::parse_quote!("0s");
        assert_eq!(
            read_positive("interval", &e).unwrap_err().to_string(),
            "`interval` must be greater than zero"
        );
        let e: Expr = syn::parse_quote!(5);
        assert!(read("interval", &e)
            .unwrap_err()
            .to_string()
            .contains("expected a duration string"));
    }

    #[test]
    fn emits_const_constructors() {
        let krate = Krate::default();
        assert_eq!(
            to_tokens(Duration::from_secs(5), &Krate::default()).to_string(),
            quote!(#krate::__private_0_1_0::Duration::from_secs(5u64)).to_string()
        );
        assert_eq!(
            to_tokens(Duration::from_millis(1500), &Krate::default()).to_string(),
            quote!(#krate::__private_0_1_0::Duration::from_millis(1500u64)).to_string()
        );
        assert_eq!(
            to_tokens(Duration::new(1, 5), &Krate::default()).to_string(),
            quote!(#krate::__private_0_1_0::Duration::new(1u64, 5u32)).to_string()
        );
    }

    #[test]
    fn a_bare_number_says_which_string_to_write() {
        assert_eq!(
            parse(&lit("1")).unwrap_err().to_string(),
            "invalid duration `1`: a unit is needed; write `\"1s\"` (or another unit: `ms`, `m`, `h`)"
        );
        let five: Expr = syn::parse_quote!(5);
        assert_eq!(
            read("bulk_flush_interval", &five).unwrap_err().to_string(),
            "expected a duration string for `bulk_flush_interval`: write `\"5s\"` (or another unit: `ms`, `m`, `h`)"
        );
    }
}
