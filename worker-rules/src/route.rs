//! Rules between the options of one route: lists, duplicates, options that
//! need or exclude each other.

use std::time::Duration;

use crate::options::{ON_DECODE_ERROR, REQUEUE};

/// A list option that must not be empty: `` `queues` must name at least one queue ``.
pub fn non_empty(option: &str, item: &str, len: usize) -> Result<(), String> {
    if len == 0 {
        Err(format!("`{option}` must name at least one {item}"))
    } else {
        Ok(())
    }
}

/// The message for a name listed twice: `` duplicate queue `items` ``.
pub fn duplicate(item: &str, name: &str) -> String {
    format!("duplicate {item} `{name}`")
}

/// A duration option that must be positive (flush intervals, backoffs,
/// intervals).
pub fn positive(option: &str, d: Duration) -> Result<(), String> {
    if d.is_zero() {
        Err(format!("`{option}` must be greater than zero"))
    } else {
        Ok(())
    }
}

/// `on_decode_error` never requeues: a body that cannot decode would come
/// back forever.
pub fn decode_error_action(action: &str) -> Result<(), String> {
    if action == REQUEUE {
        Err(format!("`{ON_DECODE_ERROR} = requeue` would redeliver a message that can never decode, in an endless loop; use `reject` (with `dead_letter` to keep it) or `ack`"))
    } else {
        Ok(())
    }
}

/// `retry_backoff` only means something with `max_retries`.
pub fn retry_backoff_needs_max_retries(
    has_backoff: bool,
    has_max_retries: bool,
) -> Result<(), String> {
    if has_backoff && !has_max_retries {
        Err("`retry_backoff` has no effect without `max_retries`, add `max_retries = 3` or remove it".to_owned())
    } else {
        Ok(())
    }
}

/// `delivery_limit` is an argument of a quorum queue the route declares.
pub fn delivery_limit_needs_quorum(quorum: bool, declare: bool) -> Result<(), String> {
    match (quorum, declare) {
        (true, true) => Ok(()),
        (false, _) => Err("`delivery_limit` applies to quorum queues: add `queue_type = quorum` (and `declare = true`)".to_owned()),
        (true, false) => Err("`delivery_limit` is a queue argument, set when the route declares its queues: add `declare = true`".to_owned()),
    }
}

/// `single_active` is an argument of a queue the route declares.
pub fn single_active_needs_declare(declare: bool) -> Result<(), String> {
    if declare {
        Ok(())
    } else {
        Err("`single_active` is a queue argument (`x-single-active-consumer`), set when the route declares its queues: add `declare = true`".to_owned())
    }
}

/// `max_priority` is an argument of a classic queue the route declares:
/// RabbitMQ refuses `x-max-priority` on a quorum queue, which orders by
/// message priority by itself (4.0 and later).
pub fn max_priority_needs_classic(quorum: bool, declare: bool) -> Result<(), String> {
    match (quorum, declare) {
        (false, true) => Ok(()),
        (true, _) => Err("`max_priority` applies to classic queues (`x-max-priority`): RabbitMQ refuses it on a quorum queue, which orders messages by priority without it (RabbitMQ 4.0 and later; 32 levels, 0 to 31, in 4.3); remove `max_priority`".to_owned()),
        (false, false) => Err("`max_priority` is a queue argument (`x-max-priority`), set when the route declares its queues: add `declare = true`".to_owned()),
    }
}

/// What a `broadcast = true` route cannot have, each with the option that
/// conflicts: the queue is one per process, named after the route's
/// queue, declared exclusive and auto-delete by the runtime, and fed only
/// by the exchange's bindings. `set` names the options present, `queues`
/// counts the route's queues.
pub fn broadcast_conflicts(
    set: &[&str],
    queues: usize,
    has_exchange: bool,
) -> Vec<(String, String)> {
    use crate::options::*;
    let mut out = Vec::new();
    if !has_exchange {
        out.push((BROADCAST.to_owned(), format!("`{BROADCAST}` needs `{EXCHANGE} = \"...\"`: each process's queue gets the messages of that exchange through the route's bindings")));
    }
    if queues > 1 {
        out.push((QUEUES.to_owned(), format!("a `{BROADCAST}` route names one queue, the prefix of each process's own queue (`<queue>.<host>.<pid>.<nonce>`), got {queues}")));
    }
    for (option, why) in [
        (QUEUE_TYPE, "each process's queue is a classic exclusive queue, deleted with its connection"),
        (DELIVERY_LIMIT, "each process's queue is a classic exclusive queue"),
        (SINGLE_ACTIVE, "each process has its own queue and is its only consumer"),
        (MAX_RETRIES, "retries go through delay queues that return messages by the queue's name, which is one process's"),
        (RETRY_BACKOFF, "retries go through delay queues that return messages by the queue's name, which is one process's"),
    ] {
        if set.contains(&option) {
            out.push((option.to_owned(), format!("`{option}` does not apply to a `{BROADCAST}` route: {why}; remove it")));
        }
    }
    out
}

/// The startup warning for a route that requeues failures (without
/// `max_retries`) into a queue with a delivery limit: the broker
/// dead-letters, or drops, a message once it has been returned `limit`
/// times, whatever the route's policy says.
pub fn requeue_meets_delivery_limit(
    requeues_failures: bool,
    has_max_retries: bool,
    limit: Option<u32>,
) -> Option<String> {
    let limit = limit.filter(|_| requeues_failures && !has_max_retries)?;
    Some(format!(
        "`on_exception = requeue` on a quorum queue with `delivery_limit = {limit}`: after {} deliveries the broker dead-letters the message (or drops it without a dead-letter queue); set `max_retries` for retries the runtime counts, or raise the limit",
        u64::from(limit) + 1
    ))
}

/// The dead-letter queue of a route is not one of its own queues.
pub fn dead_letter_not_consumed(dead_letter: &str, queues: &[&str]) -> Result<(), String> {
    if queues.contains(&dead_letter) {
        Err(format!(
            "`dead_letter` queue `{dead_letter}` is consumed by this route, dead-lettered messages would loop"
        ))
    } else {
        Ok(())
    }
}

/// `broker` on an `sse` route without `dead_letter` or `resume`.
pub fn broker_without_use() -> String {
    "`broker` names the connection that keeps `dead_letter` and `resume`, and neither is set: add one, or remove `broker`".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            non_empty("queues", "queue", 0),
            Err("`queues` must name at least one queue".to_owned())
        );
        assert!(non_empty("queues", "queue", 1).is_ok());
        assert_eq!(duplicate("queue", "a"), "duplicate queue `a`");
        assert!(positive("interval", Duration::ZERO).is_err());
        assert!(decode_error_action("requeue")
            .unwrap_err()
            .contains("endless loop"));
        assert!(decode_error_action("ack").is_ok());
        assert!(retry_backoff_needs_max_retries(true, false).is_err());
        assert!(retry_backoff_needs_max_retries(false, false).is_ok());
        assert!(dead_letter_not_consumed("a", &["a", "b"])
            .unwrap_err()
            .contains("would loop"));
    }
}
