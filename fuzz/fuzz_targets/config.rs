//! The configuration parsers on arbitrary values: every variable either
//! parses or gives an error naming it; nothing panics (durations such as
//! `1e20` once did).

#![no_main]

use libfuzzer_sys::fuzz_target;
use worker_core::config::parse::seconds;
use worker_core::config::{Config, MainOptions, VARIABLES};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = seconds("WORKER_FLUSH_TIMEOUT", text);
    // The same value for every variable the runtime and the HTTP server read.
    let names = VARIABLES
        .iter()
        .chain(worker_http::config::HTTP_VARIABLES)
        .chain(worker_http::config::SSE_VARIABLES)
        .map(|v| v.name.replace("<NAME>", "X"));
    for name in names {
        let vars = [(name.clone(), text.to_owned())];
        match Config::from_vars(vars, &MainOptions::default()) {
            Ok(config) => {
                if let Err(e) = worker_http::HttpConfig::from_config(&config) {
                    assert_eq!(e.variable, name, "{e}");
                }
                if let Err(e) = worker_http::SseConfig::from_config(&config) {
                    assert_eq!(e.variable, name, "{e}");
                }
            }
            Err(e) => assert!(
                !e.variable.is_empty() && !e.message.is_empty(),
                "{name}: {e}"
            ),
        }
    }
});
