//! Dead-letter records: the `x-death` header as RabbitMQ writes it.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::broker::{AmqpValue, Headers};

/// The header RabbitMQ records dead-letter events in.
pub(crate) const X_DEATH: &str = "x-death";

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeathReason {
    Rejected,
    Expired,
    /// Returned to a quorum queue more than its `x-delivery-limit`.
    DeliveryLimit,
}

impl DeathReason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            DeathReason::Rejected => "rejected",
            DeathReason::Expired => "expired",
            DeathReason::DeliveryLimit => "delivery_limit",
        }
    }
}

/// What is recorded about one dead-letter event.
pub(super) struct Death<'a> {
    pub(super) queue: &'a str,
    pub(super) reason: DeathReason,
    pub(super) exchange: &'a str,
    pub(super) routing_key: &'a str,
    pub(super) original_expiration: Option<String>,
}

fn str_field<'h>(table: &'h Headers, key: &str) -> Option<&'h str> {
    table.get(key).and_then(AmqpValue::as_str)
}

fn now_unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Adds `death` to the `x-death` header: an existing entry for the same queue
/// and reason gets its `count` incremented and moves to the front, otherwise
/// a new entry is prepended (most recent first). Also sets the
/// `x-first-death-*` (once) and `x-last-death-*` headers.
pub(super) fn record(headers: &mut Headers, death: Death<'_>) {
    let reason = death.reason.as_str();
    let mut deaths = match headers.remove(X_DEATH) {
        Some(AmqpValue::Array(items)) => items,
        _ => Vec::new(),
    };
    let existing = deaths.iter().position(|entry| {
        matches!(entry, AmqpValue::Table(t)
            if str_field(t, "queue") == Some(death.queue) && str_field(t, "reason") == Some(reason))
    });
    let entry = match existing {
        Some(index) => {
            let mut entry = deaths.remove(index);
            if let AmqpValue::Table(t) = &mut entry {
                let count = t.get("count").and_then(AmqpValue::as_int).unwrap_or(0);
                // A forged count (`i64::MAX`) saturates instead of overflowing.
                t.insert("count".into(), AmqpValue::Int(count.saturating_add(1)));
                t.insert("time".into(), AmqpValue::Int(now_unix_seconds()));
            }
            entry
        }
        None => {
            let mut t = Headers::new();
            t.insert("count".into(), AmqpValue::Int(1));
            t.insert("reason".into(), reason.into());
            t.insert("queue".into(), death.queue.into());
            t.insert("time".into(), AmqpValue::Int(now_unix_seconds()));
            t.insert("exchange".into(), death.exchange.into());
            t.insert(
                "routing-keys".into(),
                AmqpValue::Array(vec![death.routing_key.into()]),
            );
            if let Some(expiration) = death.original_expiration {
                t.insert("original-expiration".into(), expiration.into());
            }
            AmqpValue::Table(t)
        }
    };
    deaths.insert(0, entry);
    headers.insert(X_DEATH.into(), AmqpValue::Array(deaths));
    for (key, value) in [
        ("queue", death.queue),
        ("reason", reason),
        ("exchange", death.exchange),
    ] {
        headers
            .entry(format!("x-first-death-{key}"))
            .or_insert_with(|| value.into());
        headers.insert(format!("x-last-death-{key}"), value.into());
    }
}

/// RabbitMQ's cycle rule: a message that would be dead-lettered (for a reason
/// other than a rejection) into a queue it already died in, with no rejection
/// anywhere on its path, is dropped instead of looping forever.
pub(super) fn is_cycle(headers: &Headers, target_queue: &str) -> bool {
    let Some(AmqpValue::Array(deaths)) = headers.get(X_DEATH) else {
        return false;
    };
    let tables = || {
        deaths.iter().filter_map(|d| match d {
            AmqpValue::Table(t) => Some(t),
            _ => None,
        })
    };
    tables().any(|t| str_field(t, "queue") == Some(target_queue))
        && !tables().any(|t| str_field(t, "reason") == Some("rejected"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn death(queue: &str, reason: DeathReason) -> Death<'_> {
        Death {
            queue,
            reason,
            exchange: "",
            routing_key: queue,
            original_expiration: None,
        }
    }

    fn entries(h: &Headers) -> Vec<(String, String, i64)> {
        match h.get(X_DEATH) {
            Some(AmqpValue::Array(items)) => items
                .iter()
                .map(|i| match i {
                    AmqpValue::Table(t) => (
                        str_field(t, "queue").unwrap().to_owned(),
                        str_field(t, "reason").unwrap().to_owned(),
                        t["count"].as_int().unwrap(),
                    ),
                    other => panic!("x-death entry is not a table: {other:?}"),
                })
                .collect(),
            other => panic!("no x-death array: {other:?}"),
        }
    }

    #[test]
    fn counts_repeat_deaths_and_orders_most_recent_first() {
        let mut h = Headers::new();
        record(&mut h, death("a", DeathReason::Rejected));
        record(&mut h, death("b", DeathReason::Expired));
        record(&mut h, death("a", DeathReason::Rejected));
        assert_eq!(
            entries(&h),
            vec![
                ("a".into(), "rejected".into(), 2),
                ("b".into(), "expired".into(), 1)
            ]
        );
        assert_eq!(h["x-first-death-queue"].as_str(), Some("a"));
        assert_eq!(h["x-last-death-reason"].as_str(), Some("rejected"));
    }

    #[test]
    fn a_forged_count_saturates() {
        let mut h = Headers::new();
        record(&mut h, death("a", DeathReason::Rejected));
        if let Some(AmqpValue::Array(items)) = h.get_mut(X_DEATH) {
            if let AmqpValue::Table(t) = &mut items[0] {
                t.insert("count".into(), AmqpValue::Int(i64::MAX));
            }
        }
        record(&mut h, death("a", DeathReason::Rejected));
        assert_eq!(entries(&h), vec![("a".into(), "rejected".into(), i64::MAX)]);
    }

    #[test]
    fn expiry_cycles_are_detected_unless_rejected() {
        let mut h = Headers::new();
        record(&mut h, death("q", DeathReason::Expired));
        assert!(is_cycle(&h, "q"));
        assert!(!is_cycle(&h, "other"));
        record(&mut h, death("r", DeathReason::Rejected));
        assert!(!is_cycle(&h, "q"));
    }
}
