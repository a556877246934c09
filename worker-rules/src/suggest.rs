//! "Did you mean ...?": the valid name closest to a misspelt one, for the
//! errors that list valid choices (option names, actions, queue types).

/// Words people bring from other frameworks, and the option they mean here.
const ALIASES: &[(&str, &[&str])] = &[
    ("batch_size", &["bulk_size"]),
    ("batch", &["bulk_size"]),
    ("flush_interval", &["bulk_flush_interval"]),
    ("flush_timeout", &["bulk_flush_interval"]),
    ("batch_timeout", &["bulk_flush_interval"]),
    ("prefetch_count", &["prefetch"]),
    ("queue", &["queues"]),
    ("concurrency", &["max_concurrency"]),
    ("retries", &["max_retries"]),
    ("backoff", &["retry_backoff"]),
    ("dlq", &["dead_letter"]),
    ("dead_letter_queue", &["dead_letter"]),
    ("on_error", &["on_exception"]),
    ("on_failure", &["on_exception"]),
    ("nack", &["reject", "requeue"]),
    ("drop", &["reject"]),
    ("retry", &["requeue"]),
    ("every", &["interval"]),
    ("cron", &["schedule"]),
    ("timezone", &["tz"]),
    ("time_zone", &["tz"]),
    ("period", &["interval"]),
    ("route", &["path"]),
    ("event", &["events"]),
    ("method", &["methods"]),
    ("path", &["paths"]),
    ("rabbitmq", &["amqp"]),
    ("rabbit", &["amqp"]),
    ("queue_consumer", &["amqp"]),
    ("crontab", &["cron"]),
    ("timer", &["every"]),
    ("interval", &["every"]),
    ("web", &["http"]),
];

/// The names of `valid` that `name` most likely meant: those of a known
/// alias (`nack` is `reject` or `requeue`), else the same name in another
/// case, else the closest within an edit distance of a third of its length
/// (at least 1); empty when nothing is close.
pub fn candidates<'a>(name: &str, valid: &[&'a str]) -> Vec<&'a str> {
    if let Some((_, meant)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
        let found: Vec<&'a str> = valid
            .iter()
            .copied()
            .filter(|v| meant.contains(v))
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    if let Some(found) = valid.iter().find(|v| v.eq_ignore_ascii_case(name)) {
        return vec![found];
    }
    let lower = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    valid
        .iter()
        .map(|v| (distance(&lower, v), *v))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
        .into_iter()
        .collect()
}

/// The first of [`candidates`].
pub fn closest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    candidates(name, valid).first().copied()
}

/// `` (did you mean `x`?)`` (or `` `x` or `y` ``) when names of `valid`
/// are close to `name`, else empty: inserted after the unknown name in an
/// error message.
pub fn did_you_mean(name: &str, valid: &[&str]) -> String {
    let found = candidates(name, valid);
    if found.is_empty() {
        return String::new();
    }
    let names: Vec<String> = found.iter().map(|n| format!("`{n}`")).collect();
    format!(" (did you mean {}?)", names.join(" or "))
}

/// Levenshtein distance, counting a swap of two adjacent characters as one
/// edit (optimal string alignment).
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMQP: &[&str] = &[
        "queues",
        "bulk_size",
        "bulk_flush_interval",
        "on_success",
        "on_exception",
        "max_concurrency",
        "prefetch",
    ];

    #[test]
    fn typos_aliases_and_case_find_the_option() {
        assert_eq!(
            closest("bulk_flush_intervall", AMQP),
            Some("bulk_flush_interval")
        );
        assert_eq!(closest("bluk_size", AMQP), Some("bulk_size"));
        assert_eq!(closest("batch_size", AMQP), Some("bulk_size"));
        assert_eq!(closest("Prefetch", AMQP), Some("prefetch"));
        assert_eq!(closest("queue", AMQP), Some("queues"));
        assert_eq!(closest("on_exceptoin", AMQP), Some("on_exception"));
    }

    #[test]
    fn nothing_close_suggests_nothing() {
        assert_eq!(closest("colour", AMQP), None);
        assert_eq!(closest("x", &["ack", "reject"]), None);
        assert_eq!(did_you_mean("colour", AMQP), "");
        assert_eq!(
            did_you_mean("bulksize", AMQP),
            " (did you mean `bulk_size`?)"
        );
    }

    #[test]
    fn an_alias_only_suggests_a_valid_name() {
        // `nack` means `reject` among actions, but suggests nothing where
        // `reject` is not valid.
        assert_eq!(
            closest("nack", &["ack", "reject", "requeue"]),
            Some("reject")
        );
        assert_eq!(closest("nack", &["reject", "requeue"]), Some("reject"));
        assert_eq!(closest("batch_size", &["interval"]), None);
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(distance("", "abc"), 3);
    }
}
