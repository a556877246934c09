//! Exchanges and bindings of `amqp` routes: `exchange = "events"`,
//! `exchange_type = topic`, `bindings = ["order.*"]`.
//!
//! A binding is a routing-key pattern on `topic` exchanges (`*` one word,
//! `#` zero or more), an exact key on `direct` ones, and a header match on
//! `headers` ones: `"format=pdf & type=report"` (every pair, `x-match =
//! all`) or `"format=pdf | type=report"` (any pair, `x-match = any`).
//! `fanout` exchanges take no binding: every bound queue gets every message.

use crate::options::{BINDINGS, DIRECT, EXCHANGE, EXCHANGE_TYPE, FANOUT, HEADERS, TOPIC};

/// The longest name or routing key AMQP carries (a short string).
const SHORT_STRING: usize = 255;

/// An exchange a route binds its queues to: not the default exchange
/// (queues cannot be bound to it), at most 255 bytes.
pub fn exchange_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err(format!("`{EXCHANGE} = \"\"` is the default exchange, which takes no bindings (it routes by queue name); name an exchange, or remove `{EXCHANGE}`"))
    } else if name.len() > SHORT_STRING {
        Err(format!("exchange name `{name}` is longer than 255 bytes"))
    } else {
        Ok(())
    }
}

/// `exchange_type` and `bindings` mean something only with `exchange`.
pub fn needs_exchange(option: &str) -> String {
    format!("`{option}` needs `{EXCHANGE} = \"...\"`: the queues are bound to that exchange")
}

/// Whether an exchange of `kind` takes `count` bindings: a fanout
/// exchange takes none, the others at least one.
pub fn binding_count(kind: &str, count: usize) -> Result<(), String> {
    match (kind, count) {
        (FANOUT, 0) => Ok(()),
        (FANOUT, _) => Err(format!("a `{FANOUT}` exchange sends every message to every bound queue and ignores routing keys: remove `{BINDINGS}`")),
        (_, 0) => Err(format!("a `{kind}` exchange routes by its bindings, and none is given: add `{BINDINGS} = [{}]`", example(kind))),
        _ => Ok(()),
    }
}

fn example(kind: &str) -> &'static str {
    match kind {
        HEADERS => "\"format=pdf & type=report\"",
        DIRECT => "\"order.created\"",
        _ => "\"order.*\"",
    }
}

/// One binding of an exchange of `kind`.
pub fn binding(kind: &str, key: &str) -> Result<(), String> {
    match kind {
        HEADERS => header_binding(key).map(|_| ()),
        _ if key.len() > SHORT_STRING => Err(format!(
            "binding key `{key}` is longer than 255 bytes"
        )),
        DIRECT if key.split('.').any(|w| w == "*" || w == "#") => Err(format!(
            "binding `{key}` of a `{DIRECT}` exchange matches only the routing key `{key}` itself: `*` and `#` are wildcards of `{EXCHANGE_TYPE} = {TOPIC}`"
        )),
        TOPIC => topic_words(key),
        _ => Ok(()),
    }
}

/// RabbitMQ matches a topic binding word by word: `*` and `#` are
/// wildcards only as whole words (`order*` is a literal word).
fn topic_words(key: &str) -> Result<(), String> {
    match key
        .split('.')
        .find(|w| w.len() > 1 && (w.contains('*') || w.contains('#')))
    {
        Some(word) => Err(format!(
            "binding `{key}`: `{word}` is matched literally, since `*` and `#` are wildcards only as whole words between dots (`order.*`, `#.paid`)"
        )),
        None => Ok(()),
    }
}

/// Every rule above for one route's exchange options, as a route record
/// carries them: the exchange's name, then the bindings for `kind` (the
/// type's name).
pub fn problems(exchange: Option<&str>, kind: &str, bindings: &[&str]) -> Vec<String> {
    let Some(exchange) = exchange else {
        return if bindings.is_empty() {
            Vec::new()
        } else {
            vec![needs_exchange(BINDINGS)]
        };
    };
    let mut out: Vec<String> = Vec::new();
    out.extend(exchange_name(exchange).err());
    out.extend(binding_count(kind, bindings.len()).err());
    let mut seen: Vec<&str> = Vec::new();
    for b in bindings {
        out.extend(binding(kind, b).err());
        if seen.contains(b) {
            out.push(crate::route::duplicate("binding", b));
        }
        seen.push(b);
    }
    out
}

/// A header match, parsed: `x-match` and the pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderBinding {
    /// `x-match = all` (pairs joined by `&`), else `any` (by `|`).
    pub all: bool,
    /// `(header, value)`: a message matches a pair when it has that header
    /// with that string value.
    pub pairs: Vec<(String, String)>,
}

/// Parses a `headers` binding: `header=value` pairs joined by `&` (all
/// must match) or by `|` (one is enough), never both.
pub fn header_binding(binding: &str) -> Result<HeaderBinding, String> {
    let (all, separator) = match (binding.contains('&'), binding.contains('|')) {
        (true, true) => return Err(format!(
            "binding `{binding}` mixes `&` and `|`: a headers binding matches all of its pairs (`a=1 & b=2`) or any of them (`a=1 | b=2`); bind twice for other combinations"
        )),
        (false, true) => (false, '|'),
        _ => (true, '&'),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in binding.split(separator) {
        let part = part.trim();
        let Some((header, value)) = part.split_once('=') else {
            return Err(format!(
                "binding `{binding}`: expected `header=value` pairs joined by `&` or `|`, found `{part}`"
            ));
        };
        let (header, value) = (header.trim(), value.trim());
        if header.is_empty() {
            return Err(format!("binding `{binding}`: `{part}` names no header"));
        }
        if header.starts_with("x-") {
            return Err(format!(
                "binding `{binding}`: headers starting with `x-` are ignored by a headers exchange's match, so `{header}` would never be compared"
            ));
        }
        if pairs.iter().any(|(h, _)| h == header) {
            return Err(format!("binding `{binding}` names `{header}` twice"));
        }
        pairs.push((header.to_owned(), value.to_owned()));
    }
    Ok(HeaderBinding { all, pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(exchange_name("events").is_ok());
        assert!(exchange_name("").unwrap_err().contains("default exchange"));
        assert!(exchange_name(&"e".repeat(256)).unwrap_err().contains("255"));
    }

    #[test]
    fn counts_by_kind() {
        assert!(binding_count("fanout", 0).is_ok());
        assert!(binding_count("fanout", 1)
            .unwrap_err()
            .contains("remove `bindings`"));
        assert!(binding_count("topic", 0)
            .unwrap_err()
            .contains("add `bindings = [\"order.*\"]`"));
        assert!(binding_count("headers", 0)
            .unwrap_err()
            .contains("format=pdf"));
        assert!(binding_count("direct", 2).is_ok());
    }

    #[test]
    fn keys_by_kind() {
        assert!(binding("topic", "order.*").is_ok());
        assert!(binding("topic", "#").is_ok());
        assert!(binding("topic", "order.#.paid").is_ok());
        assert!(binding("topic", "order*")
            .unwrap_err()
            .contains("literally"));
        assert!(binding("topic", "a.#b").unwrap_err().contains("`#b`"));
        assert!(binding("direct", "order.created").is_ok());
        assert!(binding("direct", "order.*")
            .unwrap_err()
            .contains("wildcards"));
        assert!(binding("topic", &"k".repeat(256))
            .unwrap_err()
            .contains("255"));
    }

    #[test]
    fn route_problems() {
        assert!(problems(None, "topic", &[]).is_empty());
        assert_eq!(
            problems(None, "topic", &["a"]),
            [needs_exchange("bindings")]
        );
        assert!(problems(Some("events"), "topic", &["order.*", "#"]).is_empty());
        assert_eq!(
            problems(Some(""), "topic", &["a", "a", "b*"]).len(),
            3,
            "the default exchange, a duplicate, a literal wildcard"
        );
        assert!(problems(Some("amq.topic"), "topic", &["a"]).is_empty());
        assert_eq!(problems(Some("fan"), "fanout", &[]).len(), 0);
    }

    #[test]
    fn header_bindings() {
        assert_eq!(
            header_binding("format=pdf & type=report"),
            Ok(HeaderBinding {
                all: true,
                pairs: vec![
                    ("format".into(), "pdf".into()),
                    ("type".into(), "report".into())
                ],
            })
        );
        assert_eq!(
            header_binding("format=pdf|format2=zip"),
            Ok(HeaderBinding {
                all: false,
                pairs: vec![
                    ("format".into(), "pdf".into()),
                    ("format2".into(), "zip".into())
                ],
            })
        );
        assert!(header_binding("a=1").unwrap().all);
        assert_eq!(header_binding("q=a=b").unwrap().pairs[0].1, "a=b");
        assert!(header_binding("a=1 & b=2 | c=3")
            .unwrap_err()
            .contains("mixes"));
        assert!(header_binding("format")
            .unwrap_err()
            .contains("`header=value`"));
        assert!(header_binding("=pdf")
            .unwrap_err()
            .contains("names no header"));
        assert!(header_binding("x-match=any").unwrap_err().contains("`x-`"));
        assert!(header_binding("a=1 & a=2").unwrap_err().contains("twice"));
    }
}
