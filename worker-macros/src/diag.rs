//! The error accumulator shared by every macro.
//!
//! All mistakes in one attribute are reported in one compile, each under the
//! offending token (as serde_derive's `Ctxt`). A [`Diag`] must be consumed
//! with [`Diag::finish`] or [`Diag::into_compile_errors`]; dropping it
//! unchecked is a bug in the macro and panics, so no error is ever lost.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::Ident;
use worker_rules::one_of;

/// Accumulates errors; must be checked before it is dropped.
#[must_use = "a `Diag` must be checked with `finish` or `into_compile_errors`"]
pub(crate) struct Diag {
    errors: Vec<syn::Error>,
    checked: bool,
}

/// An option's value, remembered with the key it was set by.
///
/// The key is recorded even when the value did not validate, so a bad value
/// is not also reported as a missing option, and a repeated key is still a
/// duplicate.
pub(crate) struct Slot<T> {
    /// The key as written, on its first occurrence.
    pub key: Option<Ident>,
    /// The validated value (`None` when absent or invalid).
    pub value: Option<T>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            key: None,
            value: None,
        }
    }
}

impl<T> Slot<T> {
    /// Whether the option was written (valid or not).
    pub(crate) fn is_set(&self) -> bool {
        self.key.is_some()
    }
}

impl Default for Diag {
    fn default() -> Self {
        Self::new()
    }
}

impl Diag {
    /// An empty accumulator.
    pub(crate) fn new() -> Self {
        Diag {
            errors: Vec::new(),
            checked: false,
        }
    }

    /// Reports `message` at `span`.
    pub(crate) fn error(&mut self, span: Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Reports `message` over the whole of `tokens` (first to last token).
    pub(crate) fn error_spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error built elsewhere (every error it combines).
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.extend(error);
    }

    /// The value of `result`, recording its error.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// Whether anything was reported so far.
    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// How many errors were reported so far.
    pub(crate) fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// Sets `slot` from the first occurrence of `key`, computing its value
    /// with `read`; a second occurrence is reported as a duplicate at that
    /// second key and its value is not read.
    pub(crate) fn set_once<T>(
        &mut self,
        slot: &mut Slot<T>,
        key: &Ident,
        read: impl FnOnce(&mut Diag) -> Option<T>,
    ) {
        if slot.key.is_some() {
            self.error(key.span(), format_args!("duplicate option `{key}`"));
            return;
        }
        slot.key = Some(key.clone());
        slot.value = read(self);
    }

    /// Reports an unknown option `key` of `what`, listing the valid keys.
    pub(crate) fn unknown_key(&mut self, key: &Ident, what: &str, valid: &[&str]) {
        self.error(
            key.span(),
            format_args!(
                "unknown option `{key}` for {what}{}, expected one of {}",
                worker_rules::suggest::did_you_mean(&key.to_string(), valid),
                one_of(valid)
            ),
        );
    }

    /// Checks the accumulator: `Err` combines every reported error.
    pub(crate) fn finish(mut self) -> syn::Result<()> {
        self.checked = true;
        let mut errors = std::mem::take(&mut self.errors).into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                first.extend(errors);
                Err(first)
            }
        }
    }

    /// Checks the accumulator: every error's message, in order (tests).
    #[cfg(test)]
    pub(crate) fn messages(self) -> Vec<String> {
        match self.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    /// Checks the accumulator and renders every error as `compile_error!`s.
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        match self.finish() {
            Ok(()) => TokenStream::new(),
            Err(e) => e.into_compile_error(),
        }
    }
}

impl Drop for Diag {
    fn drop(&mut self) {
        if !self.checked && !std::thread::panicking() {
            panic!("worker-macros bug: diagnostics dropped without being checked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(s: &str) -> Ident {
        Ident::new(s, Span::call_site())
    }

    #[test]
    fn set_once_rejects_the_second_occurrence() {
        let mut d = Diag::new();
        let mut slot = Slot::default();
        d.set_once(&mut slot, &ident("bulk_size"), |_| Some(1));
        d.set_once(&mut slot, &ident("bulk_size"), |_| Some(2));
        assert_eq!(slot.value, Some(1));
        let e = d.finish().unwrap_err();
        assert_eq!(e.to_string(), "duplicate option `bulk_size`");
    }

    #[test]
    fn an_invalid_value_still_counts_as_set() {
        let mut d = Diag::new();
        let mut slot: Slot<u16> = Slot::default();
        d.set_once(&mut slot, &ident("bulk_size"), |_| None);
        assert!(slot.is_set());
        assert!(slot.value.is_none());
        d.finish().unwrap();
    }

    #[test]
    fn every_error_is_kept() {
        let mut d = Diag::new();
        d.error(Span::call_site(), "first");
        d.unknown_key(&ident("nope"), "`amqp` routes", &["a", "b"]);
        let msgs = d.messages();
        assert_eq!(
            msgs,
            [
                "first",
                "unknown option `nope` for `amqp` routes, expected one of `a`, `b`"
            ]
        );
    }

    #[test]
    #[should_panic(expected = "dropped without being checked")]
    fn an_unchecked_diag_panics() {
        let mut d = Diag::new();
        d.error(Span::call_site(), "lost");
        drop(d);
    }
}
