//! The option rules of every backend, as the macro reports them.

use super::*;
use proc_macro2::TokenStream;
use quote::quote;

fn check(attr: TokenStream) -> (Option<Spec>, Vec<String>) {
    let mut d = Diag::new();
    let parsed = crate::route::parse::parse(&mut d, attr).expect("backend");
    let spec = options(&mut d, &parsed);
    let errors = d.messages();
    assert_eq!(spec.is_some(), errors.is_empty(), "{errors:?}");
    (spec, errors)
}

fn amqp_spec(attr: TokenStream) -> AmqpSpec {
    match check(attr) {
        (Some(Spec::Amqp(s)), _) => s,
        (_, e) => panic!("{e:?}"),
    }
}

fn errors(attr: TokenStream) -> Vec<String> {
    check(attr).1
}

#[test]
fn amqp_minimal_keeps_defaults() {
    let s = amqp_spec(quote!(amqp, queues = ["items"]));
    assert_eq!(
        s,
        AmqpSpec {
            queues: vec!["items".into()],
            ..AmqpSpec::default()
        }
    );
}

#[test]
fn amqp_all_options() {
    let s = amqp_spec(quote!(
        amqp,
        queues = ["a", "b"],
        bulk_size = 2014,
        bulk_flush_interval = "5s",
        on_success = reject,
        on_exception = ack,
        on_decode_error = ack,
        max_concurrency = 4,
        max_retries = 3,
        retry_backoff = "500ms",
        dead_letter = "dlq",
        connection = "eu_west",
        vhost = "/prod",
        prefetch = 4000,
        declare = true,
        queue_type = quorum,
        delivery_limit = 5,
        single_active = true,
        consumer_priority = -3,
        timeout = "30s",
        bisect = true,
        exchange = "docs",
        exchange_type = headers,
        bindings = ["format=pdf & type=report", "kind=invoice"]
    ));
    assert_eq!(
        s,
        AmqpSpec {
            queues: vec!["a".into(), "b".into()],
            exchange: Some("docs".into()),
            exchange_type: Some("headers"),
            bindings: vec!["format=pdf & type=report".into(), "kind=invoice".into()],
            bulk_size: Some(2014),
            bulk_flush_interval: Some(Duration::from_secs(5)),
            on_success: Some("reject"),
            on_exception: Some("ack"),
            on_decode_error: Some("ack"),
            max_concurrency: Some(4),
            max_retries: Some(3),
            retry_backoff: Some(Duration::from_millis(500)),
            dead_letter: Some("dlq".into()),
            connection: Some("eu_west".into()),
            vhost: Some("/prod".into()),
            prefetch: Some(4000),
            declare: Some(true),
            quorum: Some(true),
            delivery_limit: Some(Some(5)),
            single_active: Some(true),
            consumer_priority: Some(-3),
            max_priority: None,
            broadcast: None,
            timeout: Some(Duration::from_secs(30)),
            bisect: Some(true),
        }
    );
}

#[test]
fn exchange_options_are_checked_together() {
    let e = errors(quote!(amqp, queues = ["a"], bindings = ["x.*"]));
    assert_eq!(
        e,
        ["`bindings` needs `exchange = \"...\"`: the queues are bound to that exchange"]
    );
    let e = errors(quote!(amqp, queues = ["a"], exchange_type = fanout));
    assert_eq!(e.len(), 1, "{e:?}");
    let e = errors(quote!(amqp, queues = ["a"], exchange = "events"));
    assert!(e[0].contains("add `bindings = [\"order.*\"]`"), "{e:?}");
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        exchange = "fan",
        exchange_type = fanout,
        bindings = ["k"]
    ));
    assert!(e[0].contains("remove `bindings`"), "{e:?}");
    // The type may come after the bindings: they are checked against it.
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        exchange = "d",
        bindings = ["order.*"],
        exchange_type = direct
    ));
    assert!(
        e[0].contains("wildcards of `exchange_type = topic`"),
        "{e:?}"
    );
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        exchange = "e",
        bindings = ["a.*", "a.*", "b*"]
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e.iter().any(|e| e == "duplicate binding `a.*`"), "{e:?}");
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        exchange = "",
        bindings = ["a"]
    ));
    assert!(e[0].contains("default exchange"), "{e:?}");
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        exchange = "e",
        exchange_type = hash,
        bindings = ["a"]
    ));
    assert!(
        e[0].contains("`topic`, `direct`, `fanout`, `headers`"),
        "{e:?}"
    );
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        exchange = "h",
        exchange_type = headers,
        bindings = ["a=1 | b=2 & c=3"]
    ));
    assert!(e[0].contains("mixes `&` and `|`"), "{e:?}");
}

#[test]
fn delivery_limit_needs_a_declared_quorum_queue() {
    let e = errors(quote!(amqp, queues = ["a"], delivery_limit = 3));
    assert!(
        e.iter().any(|e| e.contains("add `queue_type = quorum`")),
        "{e:?}"
    );
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        queue_type = quorum,
        delivery_limit = 3
    ));
    assert!(
        e.iter().any(|e| e.contains("add `declare = true`")),
        "{e:?}"
    );
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        queue_type = quorum,
        declare = true,
        delivery_limit = 0
    ));
    assert!(!e.is_empty(), "delivery_limit = 0 is refused");
    let s = amqp_spec(quote!(
        amqp,
        queues = ["a"],
        queue_type = quorum,
        declare = true,
        delivery_limit = 3
    ));
    assert_eq!(s.delivery_limit, Some(Some(3)));
}

#[test]
fn single_active_needs_a_declared_queue() {
    let e = errors(quote!(amqp, queues = ["a"], single_active = true));
    assert!(
        e.iter()
            .any(|e| e.contains("x-single-active-consumer") && e.contains("add `declare = true`")),
        "{e:?}"
    );
    let e = errors(quote!(amqp, queues = ["a"], single_active = "yes"));
    assert!(!e.is_empty(), "a string is refused");
    let s = amqp_spec(quote!(amqp, queues = ["a"], single_active = false));
    assert_eq!(s.single_active, Some(false));
    let s = amqp_spec(quote!(
        amqp,
        queues = ["a"],
        declare = true,
        single_active = true
    ));
    assert_eq!(s.single_active, Some(true));
}

#[test]
fn max_retries_alone_defaults_the_backoff() {
    let s = amqp_spec(quote!(amqp, queues = ["a"], max_retries = 2));
    assert_eq!(s.retry_backoff, Some(worker_rules::defaults::RETRY_BACKOFF));
    assert_eq!(
        errors(quote!(amqp, queues = ["a"], retry_backoff = "1s")),
        ["`retry_backoff` has no effect without `max_retries`, add `max_retries = 3` or remove it"]
    );
}

#[test]
fn amqp_queue_rules() {
    assert_eq!(
        errors(quote!(amqp, bulk_size = 2)),
        ["missing required option `queues` of `amqp` routes, e.g. `queues = [\"items\"]`"]
    );
    assert_eq!(
        errors(quote!(amqp, queues = [])),
        ["`queues` must name at least one queue"]
    );
    assert_eq!(
        errors(quote!(amqp, queues = ["a", "", "amq.x", "a"])),
        [
            "queue name must not be empty",
            "queue name `amq.x` uses the `amq.` prefix, which the broker reserves",
            "duplicate queue `a`",
        ]
    );
    assert_eq!(
        errors(quote!(amqp, queues = ["a"], dead_letter = "a")),
        ["`dead_letter` queue `a` is consumed by this route, dead-lettered messages would loop"]
    );
}

#[test]
fn all_mistakes_are_reported_together() {
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        bulk_size = 0,
        on_success = nack,
        on_decode_error = requeue,
        bulk_flush_interval = "soon",
        bulk_size = 3,
        colour = red,
        connection = "Eu-West",
        prefetch = 70000,
        declare = yes,
        queue_type = fast,
        max_concurrency = 0
    ));
    assert_eq!(e.len(), 11, "{e:#?}");
    assert_eq!(e[0], "`bulk_size` must be in 1..=65535, got `0`");
    assert_eq!(
        e[1],
        "unknown action `nack` (did you mean `reject` or `requeue`?), expected one of `ack`, `reject`, `requeue`"
    );
    assert!(e[2].starts_with("`on_decode_error = requeue` would redeliver"));
    assert!(e[3].starts_with("invalid duration `soon`"));
    assert_eq!(e[4], "duplicate option `bulk_size`");
    assert!(e[5].starts_with(
        "unknown option `colour` for `amqp` routes, expected one of `queues`, `bulk_size`"
    ));
    assert!(e[6].starts_with("invalid connection name `Eu-West`"));
    assert_eq!(e[7], "`prefetch` must be in 1..=65535, got `70000`");
    assert_eq!(e[8], "expected `true` or `false` for `declare`");
    assert_eq!(
        e[9],
        "unknown queue type `fast`, expected one of `classic`, `quorum`"
    );
    assert_eq!(e[10], "`max_concurrency` must be at least 1, got `0`");
    assert_eq!(
        errors(quote!(amqp, queues = ["a"], timeout = "0s", bisect = 1)),
        [
            "`timeout` must be greater than zero",
            "expected `true` or `false` for `bisect`"
        ]
    );
}

#[test]
fn every_rules() {
    match check(quote!(every, interval = "30s", timeout = "10s")) {
        (Some(Spec::Every(s)), _) => assert_eq!(
            s,
            EverySpec {
                interval: Duration::from_secs(30),
                max_concurrency: 1,
                run_on_start: true,
                timeout: Some(Duration::from_secs(10)),
            }
        ),
        (_, e) => panic!("{e:?}"),
    }
    assert_eq!(
        errors(quote!(every, max_concurrency = 2)),
        ["missing required option `interval` of `every` routes, e.g. `interval = \"30s\"`"]
    );
    assert_eq!(
        errors(quote!(every, interval = "0s", run_on_start = 1)),
        [
            "`interval` must be greater than zero",
            "expected `true` or `false` for `run_on_start`"
        ]
    );
}

#[test]
fn http_rules() {
    match check(quote!(http, method = GET, path = "/items/{id}")) {
        (Some(Spec::Http(s)), _) => assert_eq!(
            s,
            HttpSpec {
                methods: vec!["GET"],
                paths: vec!["/items/{id}".into()],
            }
        ),
        (_, e) => panic!("{e:?}"),
    }
    assert!(errors(quote!(
        http,
        methods = [GET, POST],
        paths = ["/", "/a/{*rest}"]
    ))
    .is_empty());
    assert_eq!(
        errors(quote!(http, method = GET, methods = [POST], path = "/")),
        ["`methods` cannot be combined with `method`, use one of them"]
    );
    assert_eq!(
        errors(quote!(http, methods = [GET, get, GET])),
        [
            "unknown method `get` (did you mean `GET`?), expected one of `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`",
            "duplicate method `GET`",
            "missing required option `path` (or `paths`) of `http` routes, e.g. `path = \"/items/{id}\"`",
        ]
    );
    assert_eq!(
        errors(quote!(http, path = "/")),
        ["missing required option `method` (or `methods`) of `http` routes, e.g. `method = GET`"]
    );
}

#[test]
fn sse_rules() {
    match check(quote!(
        sse,
        url = "http://localhost:9000/events",
        bulk_size = 10,
        bulk_flush_interval = "1s",
        events = ["a"],
        connection = "feed",
        timeout = "2s",
        bisect = true,
        max_retries = 3,
        retry_backoff = "500ms",
        dead_letter = "ticks.dead",
        resume = true,
        broker = "state"
    )) {
        (Some(Spec::Sse(s)), _) => assert_eq!(
            s,
            SseSpec {
                url: "http://localhost:9000/events".into(),
                bulk_size: 10,
                bulk_flush_interval: Some(Duration::from_secs(1)),
                events: vec!["a".into()],
                connection: Some("feed".into()),
                timeout: Some(Duration::from_secs(2)),
                bisect: true,
                max_retries: Some(3),
                retry_backoff: Some(Duration::from_millis(500)),
                dead_letter: Some("ticks.dead".into()),
                resume: true,
                broker: Some("state".into()),
            }
        ),
        (_, e) => panic!("{e:?}"),
    }
    match check(quote!(sse, url = "https://x/e")) {
        (Some(Spec::Sse(s)), _) => assert_eq!(
            s,
            SseSpec {
                url: "https://x/e".into(),
                bulk_size: 1,
                ..SseSpec::default()
            }
        ),
        (_, e) => panic!("{e:?}"),
    }
    assert_eq!(
        errors(quote!(sse, url = "ws://x", events = ["a", "a"])),
        [
            "expected an `http://` or `https://` URL, got `ws://x`",
            "duplicate event `a`"
        ]
    );
    assert_eq!(
        errors(quote!(sse, bulk_size = 1)),
        ["missing required option `url` of `sse` routes, e.g. `url = \"https://example.com/events\"`"]
    );
}

#[test]
fn max_priority_is_a_declared_classic_queue_argument() {
    let s = amqp_spec(quote!(
        amqp,
        queues = ["a"],
        declare = true,
        max_priority = 10
    ));
    assert_eq!(s.max_priority, Some(10));
    let e = errors(quote!(amqp, queues = ["a"], max_priority = 10));
    assert!(
        e.iter().any(
            |e| e.contains("`max_priority` is a queue argument (`x-max-priority`)")
                && e.contains("add `declare = true`")
        ),
        "{e:?}"
    );
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        max_priority = 10,
        declare = true,
        queue_type = quorum
    ));
    assert!(
        e.iter()
            .any(|e| e.contains("RabbitMQ refuses it on a quorum queue")),
        "{e:?}"
    );
    for bad in [quote!(0), quote!(256), quote!("high")] {
        let e = errors(quote!(amqp, queues = ["a"], declare = true, max_priority = #bad));
        assert!(e.iter().any(|e| e.contains("max_priority")), "{bad}: {e:?}");
    }
    let e = errors(quote!(
        amqp,
        queues = ["a"],
        declare = true,
        max_priority = 256
    ));
    assert!(
        e.iter()
            .any(|e| e.contains("`max_priority` must be in 1..=255, got `256`")),
        "{e:?}"
    );
}

#[test]
fn consumer_priority_is_a_32_bit_integer() {
    let e = errors(quote!(amqp, queues = ["a"], consumer_priority = 3000000000));
    assert!(
        e.iter().any(|e| e
            .contains("`consumer_priority` must be in -2147483648..=2147483647, got `3000000000`")),
        "{e:?}"
    );
    let e = errors(quote!(amqp, queues = ["a"], consumer_priority = "high"));
    assert!(e.iter().any(|e| e.contains("consumer_priority")), "{e:?}");
}
