//! The option rules of the worker framework, written once.
//!
//! `#[route]`, `#[on_startup]`, `#[on_shutdown]` and `main!` (the
//! `worker-framework-macros` crate) check every option at compile time with
//! these functions and put the error under the offending token; the runtime
//! (`worker-framework-core`) checks routes built by hand with the same
//! functions at startup and prefixes the error with the route's
//! `file:line`; configuration from the environment uses the URL and path
//! rules too. A rule returns `Err(message)` in rustc's style: lowercase, no
//! trailing period, code in backticks.
//!
//! ```
//! use worker_rules::{bounds, names};
//!
//! assert_eq!(names::queue_name("amq.gen"), Err(
//!     "queue name `amq.gen` uses the `amq.` prefix, which the broker reserves".to_owned()
//! ));
//! assert_eq!(bounds::BULK_SIZE.check(0), Err("`bulk_size` must be in 1..=65535, got `0`".to_owned()));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bounds;
pub mod cron;
pub mod defaults;
pub mod exchange;
pub mod names;
pub mod options;
pub mod path;
pub mod route;
pub mod suggest;
pub mod url;

/// Formats a list of names for an error message: `` `a`, `b`, `c` ``.
pub fn one_of(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::one_of;

    #[test]
    fn one_of_lists_alternatives() {
        assert_eq!(one_of(&["ack"]), "`ack`");
        assert_eq!(
            one_of(&["ack", "reject", "requeue"]),
            "`ack`, `reject`, `requeue`"
        );
    }
}
