//! Option rules of each backend: types, ranges, required and conflicting
//! options. Every mistake is reported under its token; nothing stops at the
//! first error.

use std::collections::HashSet;
use std::time::Duration;

use syn::{Expr, Ident, LitStr};

use super::parse::{Backend, RouteAttr};
use crate::diag::{Diag, Slot};
use crate::duration;
use crate::symbols::*;
use crate::value::{self, KeyValue};

/// The validated options of a route.
pub enum Spec {
    /// `amqp`.
    Amqp(AmqpSpec),
    /// `every`.
    Every(EverySpec),
    /// `http`.
    Http(HttpSpec),
    /// `sse`.
    Sse(SseSpec),
}

/// `http` options: upper-case methods and path templates, as written.
#[derive(Debug, Default, PartialEq)]
pub struct HttpSpec {
    pub methods: Vec<&'static str>,
    pub paths: Vec<String>,
}

/// `sse` options; `bulk_size` defaults to 1, the flush interval to the
/// runtime's.
#[derive(Debug, Default, PartialEq)]
pub struct SseSpec {
    pub url: String,
    pub bulk_size: u16,
    pub bulk_flush_interval: Option<Duration>,
    pub events: Vec<String>,
    pub connection: Option<String>,
}

/// `amqp` options; `None` keeps the runtime default (`AmqpOptions::new`).
#[derive(Debug, Default, PartialEq)]
pub struct AmqpSpec {
    pub queues: Vec<String>,
    pub bulk_size: Option<u16>,
    pub bulk_flush_interval: Option<Duration>,
    pub on_success: Option<&'static str>,
    pub on_exception: Option<&'static str>,
    pub on_decode_error: Option<&'static str>,
    pub max_concurrency: Option<u32>,
    pub max_retries: Option<u32>,
    /// Set to [`DEFAULT_RETRY_BACKOFF`] when only `max_retries` is given.
    pub retry_backoff: Option<Duration>,
    pub dead_letter: Option<String>,
    pub connection: Option<String>,
    pub vhost: Option<String>,
    pub prefetch: Option<u16>,
    pub declare: Option<bool>,
    pub quorum: Option<bool>,
}

/// First retry delay when `max_retries` is set without `retry_backoff`.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// `every` options.
#[derive(Debug, PartialEq)]
pub struct EverySpec {
    pub interval: Duration,
    pub max_concurrency: u32,
    pub run_on_start: bool,
}

/// Checks the options of `attr`; `None` if any is wrong (errors in `diag`).
pub fn options(diag: &mut Diag, attr: &RouteAttr) -> Option<Spec> {
    let before = diag.error_count();
    let spec = match attr.backend {
        Backend::Amqp => amqp(diag, &attr.backend_ident, &attr.options).map(Spec::Amqp),
        Backend::Every => every(diag, &attr.backend_ident, &attr.options).map(Spec::Every),
        Backend::Http => http(diag, &attr.backend_ident, &attr.options).map(Spec::Http),
        Backend::Sse => sse(diag, &attr.backend_ident, &attr.options).map(Spec::Sse),
    };
    spec.filter(|_| diag.error_count() == before)
}

fn int<T: TryFrom<i128>>(diag: &mut Diag, key: &str, v: &Expr, min: i128, max: i128) -> Option<T> {
    diag.ok(value::int(key, v, min, max))
        .and_then(|n| T::try_from(n).ok())
}

fn missing(diag: &mut Diag, backend: &Ident, key: &str, example: &str) {
    diag.error(
        backend.span(),
        format_args!("missing required option {key} of `{backend}` routes, e.g. `{example}`"),
    );
}

fn amqp(diag: &mut Diag, backend: &Ident, options: &[KeyValue]) -> Option<AmqpSpec> {
    let mut queues = Slot::<Vec<LitStr>>::default();
    let mut bulk_size = Slot::default();
    let mut bulk_flush_interval = Slot::default();
    let mut on_success = Slot::default();
    let mut on_exception = Slot::default();
    let mut on_decode_error = Slot::default();
    let mut max_concurrency = Slot::default();
    let mut max_retries = Slot::default();
    let mut retry_backoff = Slot::default();
    let mut dead_letter = Slot::<LitStr>::default();
    let mut connection = Slot::default();
    let mut vhost = Slot::default();
    let mut prefetch = Slot::default();
    let mut declare = Slot::default();
    let mut quorum = Slot::default();

    for KeyValue { key, value: v } in options {
        match key.to_string().as_str() {
            QUEUES => diag.set_once(&mut queues, key, |d| queue_list(d, v)),
            BULK_SIZE => diag.set_once(&mut bulk_size, key, |d| int(d, BULK_SIZE, v, 1, 65535)),
            BULK_FLUSH_INTERVAL => diag.set_once(&mut bulk_flush_interval, key, |d| {
                d.ok(duration::read_positive(BULK_FLUSH_INTERVAL, v))
            }),
            ON_SUCCESS => diag.set_once(&mut on_success, key, |d| action(d, ON_SUCCESS, v)),
            ON_EXCEPTION => diag.set_once(&mut on_exception, key, |d| action(d, ON_EXCEPTION, v)),
            ON_DECODE_ERROR => diag.set_once(&mut on_decode_error, key, |d| decode_action(d, v)),
            MAX_CONCURRENCY => diag.set_once(&mut max_concurrency, key, |d| {
                int(d, MAX_CONCURRENCY, v, 1, u32::MAX.into())
            }),
            MAX_RETRIES => diag.set_once(&mut max_retries, key, |d| {
                int(d, MAX_RETRIES, v, 0, u32::MAX.into())
            }),
            RETRY_BACKOFF => diag.set_once(&mut retry_backoff, key, |d| {
                d.ok(duration::read_positive(RETRY_BACKOFF, v))
            }),
            DEAD_LETTER => diag.set_once(&mut dead_letter, key, |d| {
                let lit = d.ok(value::string(DEAD_LETTER, v, "a queue name string"))?;
                d.ok(check_queue_name(&lit)).map(|()| lit)
            }),
            CONNECTION => diag.set_once(&mut connection, key, |d| connection_name(d, v)),
            VHOST => diag.set_once(&mut vhost, key, |d| {
                let lit = d.ok(value::string(VHOST, v, "a vhost name string"))?;
                if lit.value().is_empty() {
                    d.error(
                        lit.span(),
                        "`vhost` must not be empty, the default vhost is `\"/\"`",
                    );
                    return None;
                }
                Some(lit.value())
            }),
            PREFETCH => diag.set_once(&mut prefetch, key, |d| int(d, PREFETCH, v, 1, 65535)),
            DECLARE => diag.set_once(&mut declare, key, |d| d.ok(value::boolean(DECLARE, v))),
            QUEUE_TYPE => diag.set_once(&mut quorum, key, |d| {
                d.ok(value::choice(QUEUE_TYPE, "queue type", v, QUEUE_TYPES))
                    .map(|(name, _)| name == QUORUM)
            }),
            _ => diag.unknown_key(key, "`amqp` routes", AMQP_KEYS),
        }
    }

    if !queues.is_set() {
        missing(diag, backend, "`queues`", "queues = [\"items\"]");
    }
    if let (Some(key), false) = (&retry_backoff.key, max_retries.is_set()) {
        diag.error(
            key.span(),
            "`retry_backoff` has no effect without `max_retries`, add `max_retries = 3` or remove it",
        );
    }
    if let (Some(dl), Some(qs)) = (&dead_letter.value, &queues.value) {
        if qs.iter().any(|q| q.value() == dl.value()) {
            diag.error(
                dl.span(),
                format_args!(
                    "`dead_letter` queue `{}` is consumed by this route, dead-lettered messages would loop",
                    dl.value()
                ),
            );
            return None;
        }
    }

    let retries = max_retries.value;
    Some(AmqpSpec {
        queues: queues.value?.iter().map(LitStr::value).collect(),
        bulk_size: bulk_size.value,
        bulk_flush_interval: bulk_flush_interval.value,
        on_success: on_success.value,
        on_exception: on_exception.value,
        on_decode_error: on_decode_error.value,
        max_concurrency: max_concurrency.value,
        max_retries: retries,
        retry_backoff: retry_backoff
            .value
            .or(retries.map(|_| DEFAULT_RETRY_BACKOFF)),
        dead_letter: dead_letter.value.map(|l| l.value()),
        connection: connection.value,
        vhost: vhost.value,
        prefetch: prefetch.value,
        declare: declare.value,
        quorum: quorum.value,
    })
}

fn action(diag: &mut Diag, key: &str, v: &Expr) -> Option<&'static str> {
    diag.ok(value::choice(key, "action", v, ACTIONS))
        .map(|(a, _)| a)
}

fn decode_action(diag: &mut Diag, v: &Expr) -> Option<&'static str> {
    if let Some(ident) = value::bare_ident(v).filter(|i| *i == REQUEUE) {
        diag.error(
            ident.span(),
            "`on_decode_error = requeue` would redeliver a message that can never decode, in an endless loop; use `reject` (with `dead_letter` to keep it) or `ack`",
        );
        return None;
    }
    diag.ok(value::choice(
        ON_DECODE_ERROR,
        "action",
        v,
        DECODE_ERROR_ACTIONS,
    ))
    .map(|(a, _)| a)
}

/// `["a", "b"]`: non-empty, valid names, no duplicates.
fn queue_list(diag: &mut Diag, v: &Expr) -> Option<Vec<LitStr>> {
    let names = value::string_list(diag, QUEUES, v)?;
    if names.is_empty() {
        diag.error_spanned(v, "`queues` must name at least one queue");
        return None;
    }
    let mut ok = true;
    let mut seen = HashSet::new();
    for name in &names {
        if let Err(e) = check_queue_name(name) {
            diag.push(e);
            ok = false;
        } else if !seen.insert(name.value()) {
            diag.error(
                name.span(),
                format_args!("duplicate queue `{}`", name.value()),
            );
            ok = false;
        }
    }
    ok.then_some(names)
}

/// AMQP queue names: non-empty, not `amq.`-reserved, at most 255 bytes.
fn check_queue_name(lit: &LitStr) -> syn::Result<()> {
    let name = lit.value();
    let message = if name.is_empty() {
        "queue name must not be empty".to_owned()
    } else if name.starts_with("amq.") {
        format!("queue name `{name}` uses the `amq.` prefix, which the broker reserves")
    } else if name.len() > 255 {
        format!("queue name `{name}` is longer than 255 bytes")
    } else {
        return Ok(());
    };
    Err(syn::Error::new(lit.span(), message))
}

fn connection_name(diag: &mut Diag, v: &Expr) -> Option<String> {
    let lit = diag.ok(value::string(CONNECTION, v, "a connection name string"))?;
    let name = lit.value();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        diag.error(
            lit.span(),
            format_args!(
                "invalid connection name `{name}`, expected a non-empty name of `a-z`, `0-9` and `_` (configured as `WORKER_AMQP_<NAME>_URL`)"
            ),
        );
        return None;
    }
    Some(name)
}

fn every(diag: &mut Diag, backend: &Ident, options: &[KeyValue]) -> Option<EverySpec> {
    let mut interval = Slot::default();
    let mut max_concurrency = Slot::default();
    let mut run_on_start = Slot::default();
    for KeyValue { key, value: v } in options {
        match key.to_string().as_str() {
            INTERVAL => diag.set_once(&mut interval, key, |d| {
                d.ok(duration::read_positive(INTERVAL, v))
            }),
            MAX_CONCURRENCY => diag.set_once(&mut max_concurrency, key, |d| {
                int(d, MAX_CONCURRENCY, v, 1, u32::MAX.into())
            }),
            RUN_ON_START => diag.set_once(&mut run_on_start, key, |d| {
                d.ok(value::boolean(RUN_ON_START, v))
            }),
            _ => diag.unknown_key(key, "`every` routes", EVERY_KEYS),
        }
    }
    if !interval.is_set() {
        missing(diag, backend, "`interval`", "interval = \"30s\"");
    }
    Some(EverySpec {
        interval: interval.value?,
        max_concurrency: max_concurrency.value.unwrap_or(1),
        run_on_start: run_on_start.value.unwrap_or(true),
    })
}

/// `a` and `b` are alternatives: the second one written is the error.
fn exclusive<T>(diag: &mut Diag, other: &Slot<T>, key: &Ident) -> bool {
    match &other.key {
        Some(first) => {
            diag.error(
                key.span(),
                format_args!("`{key}` cannot be combined with `{first}`, use one of them"),
            );
            false
        }
        None => true,
    }
}

fn http(diag: &mut Diag, backend: &Ident, options: &[KeyValue]) -> Option<HttpSpec> {
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
        diag.error_spanned(v, "`methods` must name at least one method");
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
                    diag.error(ident.span(), format_args!("duplicate method `{name}`"));
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
        diag.error_spanned(v, "`paths` must name at least one path");
        return None;
    }
    let mut seen = HashSet::new();
    let mut ok = true;
    for lit in &items {
        ok &= check_path(diag, lit);
        if !seen.insert(lit.value()) {
            diag.error(lit.span(), format_args!("duplicate path `{}`", lit.value()));
            ok = false;
        }
    }
    ok.then(|| items.iter().map(LitStr::value).collect())
}

/// The path grammar: `/`-separated non-empty segments, no trailing slash
/// (except `/` itself), `{name}` parameters as whole segments with
/// identifier names and no duplicates, `{*rest}` only last. Every violation
/// is reported (on the literal); returns whether the path is valid.
fn check_path(diag: &mut Diag, lit: &LitStr) -> bool {
    let errors = path_errors(&lit.value());
    for e in &errors {
        diag.error(lit.span(), e);
    }
    errors.is_empty()
}

fn path_errors(path: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if !path.starts_with('/') {
        errors.push(format!("path `{path}` must start with `/`"));
        return errors;
    }
    if let Some(c) = path
        .chars()
        .find(|c| matches!(c, '?' | '#') || c.is_whitespace())
    {
        errors.push(format!("path `{path}` must not contain {c:?}"));
    }
    if path == "/" {
        return errors;
    }
    if path.ends_with('/') {
        errors.push(format!("path `{path}` must not end with `/`"));
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut params = HashSet::new();
    let mut empty_reported = false;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            if i != last && !empty_reported {
                errors.push(format!("path `{path}` has an empty segment"));
                empty_reported = true;
            }
            continue;
        }
        if !segment.contains(['{', '}']) {
            continue;
        }
        let inner = segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .filter(|s| !s.contains(['{', '}']));
        let Some(inner) = inner else {
            errors.push(format!(
                "parameter in `{segment}` of path `{path}` must be a whole segment, like `/{{id}}`"
            ));
            continue;
        };
        let (catch_all, name) = match inner.strip_prefix('*') {
            Some(name) => (true, name),
            None => (false, inner),
        };
        if !is_identifier(name) {
            errors.push(format!(
                "invalid parameter name `{name}` in path `{path}`, expected an identifier"
            ));
        } else if !params.insert(name) {
            errors.push(format!("duplicate parameter `{name}` in path `{path}`"));
        }
        if catch_all && i != last {
            errors.push(format!(
                "catch-all `{segment}` must be the last segment of path `{path}`"
            ));
        }
    }
    errors
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_ascii_alphabetic() => {
            name != "_" && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        }
        _ => false,
    }
}

fn sse(diag: &mut Diag, backend: &Ident, options: &[KeyValue]) -> Option<SseSpec> {
    let mut url = Slot::<String>::default();
    let mut bulk_size = Slot::<u16>::default();
    let mut bulk_flush_interval = Slot::default();
    let mut events = Slot::<Vec<String>>::default();
    let mut connection = Slot::default();
    for KeyValue { key, value: v } in options {
        match key.to_string().as_str() {
            URL => diag.set_once(&mut url, key, |d| {
                let lit = d.ok(value::string(URL, v, "a URL string"))?;
                let u = lit.value();
                let host = u
                    .strip_prefix("http://")
                    .or_else(|| u.strip_prefix("https://"));
                if host.is_none_or(str::is_empty) {
                    d.error(
                        lit.span(),
                        format_args!("`url` must start with `http://` or `https://`, got `{u}`"),
                    );
                    return None;
                }
                Some(u)
            }),
            BULK_SIZE => diag.set_once(&mut bulk_size, key, |d| int(d, BULK_SIZE, v, 1, 65535)),
            BULK_FLUSH_INTERVAL => diag.set_once(&mut bulk_flush_interval, key, |d| {
                d.ok(duration::read_positive(BULK_FLUSH_INTERVAL, v))
            }),
            EVENTS => diag.set_once(&mut events, key, |d| {
                let names = value::string_list(d, EVENTS, v)?;
                let mut seen = HashSet::new();
                let mut ok = !names.is_empty();
                if !ok {
                    d.error_spanned(
                        v,
                        "`events` must name at least one event, or be left out to keep all",
                    );
                }
                for n in &names {
                    if n.value().is_empty() {
                        d.error(n.span(), "event name must not be empty");
                        ok = false;
                    } else if !seen.insert(n.value()) {
                        d.error(n.span(), format_args!("duplicate event `{}`", n.value()));
                        ok = false;
                    }
                }
                ok.then(|| names.iter().map(LitStr::value).collect())
            }),
            CONNECTION => diag.set_once(&mut connection, key, |d| connection_name(d, v)),
            _ => diag.unknown_key(key, "`sse` routes", SSE_KEYS),
        }
    }
    if !url.is_set() {
        missing(
            diag,
            backend,
            "`url`",
            "url = \"https://example.com/events\"",
        );
    }
    Some(SseSpec {
        url: url.value?,
        bulk_size: bulk_size.value.unwrap_or(1),
        bulk_flush_interval: bulk_flush_interval.value,
        events: events.value.unwrap_or_default(),
        connection: connection.value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn check(attr: TokenStream) -> (Option<Spec>, Vec<String>) {
        let mut d = Diag::new();
        let parsed = super::super::parse::parse(&mut d, attr).expect("backend");
        let spec = options(&mut d, &parsed);
        let errors = match d.finish() {
            Ok(()) => vec![],
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
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
            queue_type = quorum
        ));
        assert_eq!(
            s,
            AmqpSpec {
                queues: vec!["a".into(), "b".into()],
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
            }
        );
    }

    #[test]
    fn max_retries_alone_defaults_the_backoff() {
        let s = amqp_spec(quote!(amqp, queues = ["a"], max_retries = 2));
        assert_eq!(s.retry_backoff, Some(DEFAULT_RETRY_BACKOFF));
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
            "unknown action `nack`, expected one of `ack`, `reject`, `requeue`"
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
    }

    #[test]
    fn every_rules() {
        match check(quote!(every, interval = "30s")) {
            (Some(Spec::Every(s)), _) => assert_eq!(
                s,
                EverySpec {
                    interval: Duration::from_secs(30),
                    max_concurrency: 1,
                    run_on_start: true
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
                "unknown method `get`, expected one of `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`",
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
    fn path_grammar() {
        for ok in ["/", "/items", "/items/{id}", "/a/{id}/b/{*rest}", "/{_x1}"] {
            assert!(path_errors(ok).is_empty(), "{ok}: {:?}", path_errors(ok));
        }
        assert_eq!(path_errors("items"), ["path `items` must start with `/`"]);
        assert_eq!(
            path_errors("/items/"),
            ["path `/items/` must not end with `/`"]
        );
        assert_eq!(path_errors("/a//b"), ["path `/a//b` has an empty segment"]);
        assert_eq!(
            path_errors("/a/x{id}"),
            ["parameter in `x{id}` of path `/a/x{id}` must be a whole segment, like `/{id}`"]
        );
        assert_eq!(
            path_errors("/{1d}/{id}/{id}"),
            [
                "invalid parameter name `1d` in path `/{1d}/{id}/{id}`, expected an identifier",
                "duplicate parameter `id` in path `/{1d}/{id}/{id}`",
            ]
        );
        assert_eq!(
            path_errors("/{*rest}/x"),
            ["catch-all `{*rest}` must be the last segment of path `/{*rest}/x`"]
        );
        assert_eq!(path_errors("/a?b"), ["path `/a?b` must not contain '?'"]);
    }

    #[test]
    fn sse_rules() {
        match check(quote!(
            sse,
            url = "http://localhost:9000/events",
            bulk_size = 10,
            bulk_flush_interval = "1s",
            events = ["a"],
            connection = "feed"
        )) {
            (Some(Spec::Sse(s)), _) => assert_eq!(
                s,
                SseSpec {
                    url: "http://localhost:9000/events".into(),
                    bulk_size: 10,
                    bulk_flush_interval: Some(Duration::from_secs(1)),
                    events: vec!["a".into()],
                    connection: Some("feed".into()),
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
                "`url` must start with `http://` or `https://`, got `ws://x`",
                "duplicate event `a`"
            ]
        );
        assert_eq!(
            errors(quote!(sse, bulk_size = 1)),
            ["missing required option `url` of `sse` routes, e.g. `url = \"https://example.com/events\"`"]
        );
    }
}
