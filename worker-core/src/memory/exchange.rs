//! Exchanges, bindings and routing-key matching.

use std::sync::Arc;

/// The kind of an exchange, as in AMQP 0-9-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeKind {
    /// Routes to queues bound with exactly the message's routing key.
    Direct,
    /// Routes to every bound queue, ignoring the routing key.
    Fanout,
    /// Routes by pattern: binding keys are dot-separated words where `*`
    /// matches exactly one word and `#` zero or more words.
    Topic,
}

impl ExchangeKind {
    /// Whether a binding with `binding_key` takes a message with `routing_key`.
    pub fn matches(self, binding_key: &str, routing_key: &str) -> bool {
        match self {
            ExchangeKind::Direct => binding_key == routing_key,
            ExchangeKind::Fanout => true,
            ExchangeKind::Topic => topic_matches(binding_key, routing_key),
        }
    }
}

pub(super) struct Binding {
    pub(super) queue: Arc<str>,
    pub(super) key: String,
}

pub(super) struct Exchange {
    pub(super) kind: ExchangeKind,
    pub(super) bindings: Vec<Binding>,
}

impl Exchange {
    pub(super) fn new(kind: ExchangeKind) -> Self {
        Exchange {
            kind,
            bindings: Vec::new(),
        }
    }

    pub(super) fn bind(&mut self, queue: Arc<str>, key: &str) {
        if !self
            .bindings
            .iter()
            .any(|b| *b.queue == *queue && b.key == key)
        {
            self.bindings.push(Binding {
                queue,
                key: key.to_owned(),
            });
        }
    }

    pub(super) fn unbind_queue(&mut self, queue: &str) {
        self.bindings.retain(|b| &*b.queue != queue);
    }

    /// Appends the queues that take `routing_key` to `out`, once each.
    pub(super) fn route_into(&self, routing_key: &str, out: &mut Vec<Arc<str>>) {
        for b in &self.bindings {
            if self.kind.matches(&b.key, routing_key) && !out.contains(&b.queue) {
                out.push(b.queue.clone());
            }
        }
    }
}

/// AMQP topic matching: words separated by `.`, `*` is one word, `#` is zero
/// or more words.
pub(super) fn topic_matches(pattern: &str, routing_key: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::topic_matches;

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
        ];
        for (pattern, key, expected) in cases {
            assert_eq!(
                topic_matches(pattern, key),
                expected,
                "pattern `{pattern}` vs key `{key}`"
            );
        }
    }
}
