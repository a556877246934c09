//! The record of an `http` route: its options, the rules they obey (the
//! macro checks them at compile time, [`HttpOptions::problems`] checks a
//! record built by hand), and the constructor of its handler. The runtime
//! knows it as a [`ServiceRoute`]; the router downcasts it back.

use std::collections::HashSet;

use worker_core::backend::registry::ServiceRoute;
use worker_core::rules::{options as opt, path, route};

use crate::erased::ErasedHandler;

/// What `#[route(http)]` registers: the options and the handler.
#[derive(Debug, Clone, Copy)]
pub struct HttpRoute {
    /// Methods and paths.
    pub options: HttpOptions,
    /// Builds the handler, routed for the methods by the router.
    pub make: fn() -> ErasedHandler,
}

impl ServiceRoute for HttpRoute {
    fn backend(&self) -> &'static str {
        "http"
    }

    fn describe(&self, _var: &dyn Fn(&str) -> Option<String>) -> (String, String) {
        let o = &self.options;
        (
            format!("{} {}", o.methods.join("|"), o.paths.join(",")),
            String::new(),
        )
    }

    fn problems(&self) -> Vec<String> {
        self.options.problems()
    }

    fn consumes(&self) -> bool {
        false
    }
}

/// Options of an `http` route.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Upper-case method names.
    pub methods: &'static [&'static str],
    /// Path templates (`/items/{id}`).
    pub paths: &'static [&'static str],
}

impl HttpOptions {
    /// Every rule `#[route(http)]` checks at compile time, for a record
    /// built by hand.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(route::non_empty(opt::METHODS, "method", self.methods.len()).err());
        out.extend(route::non_empty(opt::PATHS, "path", self.paths.len()).err());
        let mut seen = HashSet::new();
        for m in self.methods {
            if !opt::HTTP_METHODS.contains(m) {
                out.push(format!(
                    "unknown method `{m}`, expected one of {}",
                    worker_core::rules::one_of(opt::HTTP_METHODS)
                ));
            } else if !seen.insert(*m) {
                out.push(route::duplicate("method", m));
            }
        }
        let mut seen = HashSet::new();
        for p in self.paths {
            out.extend(path::http_path(p));
            if !seen.insert(*p) {
                out.push(route::duplicate("path", p));
            }
        }
        out
    }
}

/// The HTTP record of `route`, if it is an `http` route.
pub(crate) fn http_route(
    route: &worker_core::backend::registry::Route,
) -> Option<&'static HttpRoute> {
    match route.kind {
        worker_core::backend::registry::RouteKind::Service(s) => {
            let any: &'static dyn std::any::Any = s;
            any.downcast_ref::<HttpRoute>()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_options_break_the_macros_rules() {
        let http = HttpOptions {
            methods: &["GET", "BREW"],
            paths: &["/a/{id}", "b"],
        };
        assert_eq!(
            http.problems(),
            [
                "unknown method `BREW`, expected one of `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`",
                "path `b` must start with `/`",
            ]
        );
    }
}
