//! Exchanges and bindings: [`ExchangeKind`] and [`Binding`], as routes
//! declare them and both brokers route by them.

use super::delivery::{AmqpValue, Headers};

/// The type of an exchange, as in AMQP 0-9-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ExchangeKind {
    /// Routes by pattern: binding keys are dot-separated words where `*`
    /// matches exactly one word and `#` zero or more words.
    Topic,
    /// Routes to queues bound with exactly the message's routing key.
    Direct,
    /// Routes to every bound queue, ignoring the routing key.
    Fanout,
    /// Routes by the message's headers: a binding's arguments name headers
    /// and values, and `x-match` (`all` or `any`) says how many must match.
    Headers,
}

impl ExchangeKind {
    /// The type's name in AMQP (`topic`, `direct`, `fanout`, `headers`).
    pub const fn name(self) -> &'static str {
        match self {
            ExchangeKind::Topic => worker_rules::options::TOPIC,
            ExchangeKind::Direct => worker_rules::options::DIRECT,
            ExchangeKind::Fanout => worker_rules::options::FANOUT,
            ExchangeKind::Headers => worker_rules::options::HEADERS,
        }
    }

    /// The kind named `name`, if it is one of the four.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            ExchangeKind::Topic,
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Headers,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }

    /// Whether a binding with `binding` (its routing key and arguments)
    /// takes a message published with `routing_key` and `headers`, as
    /// RabbitMQ matches them.
    pub fn matches(self, binding: &Binding, routing_key: &str, headers: &Headers) -> bool {
        match self {
            ExchangeKind::Direct => binding.routing_key == routing_key,
            ExchangeKind::Fanout => true,
            ExchangeKind::Topic => topic_matches(&binding.routing_key, routing_key),
            ExchangeKind::Headers => headers_match(&binding.arguments, headers),
        }
    }
}

impl std::fmt::Display for ExchangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One binding of a queue to an exchange.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Binding {
    /// The exchange.
    pub exchange: String,
    /// The binding key: a pattern (topic), a key (direct), empty (fanout,
    /// headers).
    pub routing_key: String,
    /// The binding's arguments: a headers exchange's match (`x-match` and
    /// the pairs), empty otherwise.
    pub arguments: Headers,
}

impl Binding {
    /// A binding to `exchange` with `routing_key` and no arguments.
    pub fn new(exchange: impl Into<String>, routing_key: impl Into<String>) -> Self {
        Binding {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            arguments: Headers::new(),
        }
    }

    /// Sets [`arguments`](Self::arguments).
    pub fn with_arguments(mut self, arguments: Headers) -> Self {
        self.arguments = arguments;
        self
    }

    /// The binding a route writes as `binding` for an exchange of `kind`
    /// (already checked by [`worker_rules::exchange::binding`]): the key of
    /// a topic or direct exchange, the match of a headers exchange
    /// (`"format=pdf & type=report"`), nothing of a fanout one.
    pub fn of_route(exchange: &str, kind: ExchangeKind, binding: &str) -> Self {
        match kind {
            ExchangeKind::Headers => {
                let mut arguments = Headers::new();
                if let Ok(m) = worker_rules::exchange::header_binding(binding) {
                    let x_match = if m.all { "all" } else { "any" };
                    arguments.insert("x-match".to_owned(), AmqpValue::from(x_match));
                    for (header, value) in m.pairs {
                        arguments.insert(header, AmqpValue::Str(value));
                    }
                }
                Binding::new(exchange, "").with_arguments(arguments)
            }
            ExchangeKind::Fanout => Binding::new(exchange, ""),
            _ => Binding::new(exchange, binding),
        }
    }
}

impl std::fmt::Display for Binding {
    /// `events "order.*"`, `docs {x-match=all, format=pdf}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.exchange, self.routing_key)?;
        if !self.arguments.is_empty() {
            let pairs: Vec<String> = self
                .arguments
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => format!("{k}={s}"),
                    None => format!("{k}={v:?}"),
                })
                .collect();
            write!(f, " {{{}}}", pairs.join(", "))?;
        }
        Ok(())
    }
}

/// AMQP topic matching: words separated by `.`, `*` is one word, `#` is zero
/// or more words.
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = if routing_key.is_empty() {
        Vec::new()
    } else {
        routing_key.split('.').collect()
    };
    words_match(&pattern, &key)
}

fn words_match(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => {
            // `#` swallows zero or more words: try every split point.
            (0..=key.len()).any(|skip| words_match(rest, &key[skip..]))
        }
        Some((&"*", rest)) => !key.is_empty() && words_match(rest, &key[1..]),
        Some((word, rest)) => key.first() == Some(word) && words_match(rest, &key[1..]),
    }
}

/// A headers exchange's match: the binding's arguments other than `x-...`
/// against the message's headers, each equal by type and value; with
/// `x-match = any` one is enough, otherwise (`all`, the default) every one
/// must be there. An `all` binding without pairs takes every message, an
/// `any` one none.
pub fn headers_match(arguments: &Headers, headers: &Headers) -> bool {
    let any = arguments.get("x-match").and_then(AmqpValue::as_str) == Some("any");
    let mut pairs = arguments.iter().filter(|(k, _)| !k.starts_with("x-"));
    let equal = |(k, v): (&String, &AmqpValue)| headers.get(k) == Some(v);
    if any {
        pairs.any(equal)
    } else {
        pairs.all(equal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns() {
        let cases = [
            ("a.b", "a.b", true),
            ("a.b", "a.c", false),
            ("a.*", "a.b", true),
            ("a.*", "a.b.c", false),
            ("a.*", "a", false),
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("#", "", true),
            ("#", "x.y", true),
            ("*.b.*", "a.b.c", true),
            ("*.b.*", "a.x.c", false),
            ("#.c", "a.b.c", true),
            ("#.c", "c", true),
            ("a.#.c", "a.c", true),
            ("a.#.c", "a.x.y.c", true),
            ("a.#.c", "a.x.y.d", false),
            ("*", "", false),
            ("#.#", "a", true),
            ("*.#", "", false),
        ];
        for (pattern, key, expected) in cases {
            assert_eq!(
                topic_matches(pattern, key),
                expected,
                "pattern `{pattern}` vs key `{key}`"
            );
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AmqpValue::from(*v)))
            .collect()
    }

    #[test]
    fn header_matches() {
        let all = Binding::of_route("docs", ExchangeKind::Headers, "format=pdf & type=report");
        let any = Binding::of_route("docs", ExchangeKind::Headers, "format=pdf | type=report");
        assert_eq!(
            all.arguments.get("x-match").and_then(AmqpValue::as_str),
            Some("all")
        );
        let both = headers(&[("format", "pdf"), ("type", "report"), ("extra", "1")]);
        let one = headers(&[("format", "pdf")]);
        let other = headers(&[("format", "zip")]);
        let k = ExchangeKind::Headers;
        assert!(k.matches(&all, "", &both));
        assert!(!k.matches(&all, "", &one));
        assert!(k.matches(&any, "", &one));
        assert!(!k.matches(&any, "", &other));
        let mut typed = Headers::new();
        typed.insert("format".into(), AmqpValue::Int(1));
        let int_binding = Binding::of_route("docs", k, "format=1");
        assert!(
            !k.matches(&int_binding, "", &typed),
            "a string never equals an integer"
        );
        assert!(headers_match(&Headers::new(), &one));
        assert!(!headers_match(&headers(&[("x-match", "any")]), &one));
    }

    #[test]
    fn kinds_and_route_bindings() {
        for k in [
            ExchangeKind::Topic,
            ExchangeKind::Direct,
            ExchangeKind::Fanout,
            ExchangeKind::Headers,
        ] {
            assert_eq!(ExchangeKind::from_name(k.name()), Some(k));
        }
        assert_eq!(ExchangeKind::from_name("x-modulus-hash"), None);
        assert_eq!(
            Binding::of_route("e", ExchangeKind::Fanout, "ignored"),
            Binding::new("e", "")
        );
        let b = Binding::of_route("e", ExchangeKind::Topic, "order.*");
        assert_eq!(b.to_string(), "e \"order.*\"");
        assert!(ExchangeKind::Topic.matches(&b, "order.paid", &Headers::new()));
        assert!(!ExchangeKind::Direct.matches(&b, "order.paid", &Headers::new()));
    }
}
