//! `#[route(http, ...)]` options.

use std::collections::HashSet;

use syn::{Expr, Ident, LitStr};
use worker_rules::options::*;
use worker_rules::{path, route};

use super::{exclusive, missing, HttpSpec};
use crate::diag::{Diag, Slot};
use crate::value::{self, KeyValue};

pub(super) fn check(diag: &mut Diag, backend: &Ident, options: &[KeyValue]) -> Option<HttpSpec> {
    let mut method = Slot::<&'static str>::default();
    let mut methods = Slot::<Vec<&'static str>>::default();
    let mut path = Slot::<String>::default();
    let mut paths = Slot::<Vec<String>>::default();
    for KeyValue { key, value: v } in options {
        match key.to_string().as_str() {
            METHOD => {
                if exclusive(diag, &methods, key) {
                    diag.set_once(&mut method, key, |d| {
                        d.ok(value::choice(METHOD, "method", v, HTTP_METHODS))
                            .map(|(name, _)| name)
                    });
                }
            }
            METHODS => {
                if exclusive(diag, &method, key) {
                    diag.set_once(&mut methods, key, |d| method_list(d, v));
                }
            }
            PATH => {
                if exclusive(diag, &paths, key) {
                    diag.set_once(&mut path, key, |d| {
                        let lit = d.ok(value::string(
                            PATH,
                            v,
                            "a path string like `\"/items/{id}\"`",
                        ))?;
                        check_path(d, &lit).then(|| lit.value())
                    });
                }
            }
            PATHS => {
                if exclusive(diag, &path, key) {
                    diag.set_once(&mut paths, key, |d| path_list(d, v));
                }
            }
            _ => diag.unknown_key(key, "`http` routes", HTTP_KEYS),
        }
    }
    if !method.is_set() && !methods.is_set() {
        missing(diag, backend, "`method` (or `methods`)", "method = GET");
    }
    if !path.is_set() && !paths.is_set() {
        missing(
            diag,
            backend,
            "`path` (or `paths`)",
            "path = \"/items/{id}\"",
        );
    }
    Some(HttpSpec {
        methods: methods.value.or_else(|| method.value.map(|m| vec![m]))?,
        paths: paths.value.or_else(|| path.value.map(|p| vec![p]))?,
    })
}

fn method_list(diag: &mut Diag, v: &Expr) -> Option<Vec<&'static str>> {
    let items = diag.ok(value::list(METHODS, v, "[GET, POST]"))?;
    if items.is_empty() {
        diag.error_spanned(v, route::non_empty(METHODS, "method", 0).unwrap_err());
        return None;
    }
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    let mut ok = true;
    for item in items {
        match value::choice(METHODS, "method", item, HTTP_METHODS) {
            Ok((name, ident)) => {
                names.push(name);
                if !seen.insert(name) {
                    diag.error(ident.span(), route::duplicate("method", name));
                    ok = false;
                }
            }
            Err(e) => {
                diag.push(e);
                ok = false;
            }
        }
    }
    ok.then_some(names)
}

fn path_list(diag: &mut Diag, v: &Expr) -> Option<Vec<String>> {
    let items = value::string_list(diag, PATHS, v)?;
    if items.is_empty() {
        diag.error_spanned(v, route::non_empty(PATHS, "path", 0).unwrap_err());
        return None;
    }
    let mut seen = HashSet::new();
    let mut ok = true;
    for lit in &items {
        ok &= check_path(diag, lit);
        if !seen.insert(lit.value()) {
            diag.error(lit.span(), route::duplicate("path", &lit.value()));
            ok = false;
        }
    }
    ok.then(|| items.iter().map(LitStr::value).collect())
}

/// The path grammar of `worker_rules::path`: every violation is reported
/// on the literal; returns whether the path is valid.
fn check_path(diag: &mut Diag, lit: &LitStr) -> bool {
    let errors = path::http_path(&lit.value());
    for e in &errors {
        diag.error(lit.span(), e);
    }
    errors.is_empty()
}
