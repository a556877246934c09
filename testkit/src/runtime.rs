//! A runtime of some of the test binary's routes, as the suites and the
//! benchmarks start one: configured from explicit variables, without the
//! binary's hooks and without signal handling.

use worker_core::backend::config::{Config, MainOptions};
use worker_core::backend::registry::{self, Route};
use worker_core::backend::runtime::{Runtime, RuntimeBuilder};

/// The records `#[route]` registered for `names`, in that order; panics
/// naming a route that is not registered.
pub fn registered(names: &[&str]) -> Vec<&'static Route> {
    let all = registry::routes();
    names
        .iter()
        .map(|name| {
            *all.iter()
                .find(|r| r.name == *name)
                .unwrap_or_else(|| panic!("no route `{name}` is registered in this binary"))
        })
        .collect()
}

/// A builder for a runtime of the routes `names`, configured from `vars`
/// (`WORKER_HTTP_ADDR=off` unless given), with no hooks and no signal
/// handling; the caller adds its backends and, where it needs it, its
/// [`App`](worker_core::App).
pub fn runtime<K, V>(names: &[&str], vars: impl IntoIterator<Item = (K, V)>) -> RuntimeBuilder
where
    K: Into<String>,
    V: Into<String>,
{
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    if !vars.iter().any(|(k, _)| k == "WORKER_HTTP_ADDR") {
        vars.push(("WORKER_HTTP_ADDR".to_owned(), "off".to_owned()));
    }
    let config = Config::from_vars(vars, &MainOptions::default())
        .unwrap_or_else(|e| panic!("test configuration: {e}"));
    Runtime::builder(config)
        .routes(registered(names))
        .hooks(Vec::new())
        .handle_signals(false)
}
