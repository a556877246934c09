//! URL masking and parsing on arbitrary text: no panic, and a password put
//! into a URL never survives `mask_url`, nor any error of the AMQP URL
//! parser.

#![no_main]

use libfuzzer_sys::fuzz_target;
use worker_core::rules::url::{broker_nodes, mask_url, sse_url};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Arbitrary text: nothing panics.
    let _ = mask_url(text);
    let _ = broker_nodes(text);
    let _ = sse_url(text);
    worker_rabbitmq::__fuzz::amqp_url(text);

    // The text as a password, in every place a URL carries one.
    let password = text;
    // A password holding `://` is documented as ambiguous in a list (a
    // comma followed by a scheme starts the next URL).
    if password.len() < 6 || password.contains("****") || password.contains("://") {
        return;
    }
    let mut templates = vec![
        "amqp://user:{}@rabbit.internal:5672/vh",
        "amqps://user:{}@a:5671,amqps://user:{}@b:5671",
        "http://admin:{}@mgmt:15672/api",
    ];
    // In a query, `&` and `#` end a value: a "token" holding them is
    // several things, of which the value is masked.
    if !password.contains(['&', '#']) {
        templates.push("https://stream.example/events?token={}");
    }
    for template in templates {
        let url = template.replace("{}", password);
        let masked = mask_url(&url);
        // What masking leaves is the template and `****`: a password
        // that is part of those is not a leak.
        if !template.replace("{}", "****").contains(password) {
            assert!(!masked.contains(password), "{url:?} masked as {masked:?}");
        }
        worker_rabbitmq::__fuzz::amqp_url(&url);
    }
});
