//! `routes`: the route table (backend, source, options, handler, location).

use crate::registry::{AmqpOptions, Route, RouteKind};
use crate::settlement::Action;

/// The `routes` table.
pub fn route_table(routes: &[&'static Route]) -> String {
    let mut rows = vec![[
        "BACKEND".to_owned(),
        "SOURCE".to_owned(),
        "OPTIONS".to_owned(),
        "HANDLER".to_owned(),
        "LOCATION".to_owned(),
    ]];
    for r in routes {
        let (source, options) = describe(r);
        rows.push([
            r.kind.backend().to_owned(),
            source,
            options,
            r.path(),
            format!("{}:{}", r.location.file, r.location.line),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The declared queues' arguments and the consumer's, as `routes` shows them.
fn queue_flags(o: &AmqpOptions, opts: &mut Vec<String>) {
    if o.declare {
        opts.push("declare".to_owned());
    }
    if o.quorum {
        opts.push("quorum".to_owned());
    }
    if let Some(n) = o.delivery_limit {
        opts.push(format!("delivery_limit={n}"));
    }
    if o.single_active {
        opts.push("single_active".to_owned());
    }
    if let Some(n) = o.consumer_priority {
        opts.push(format!("consumer_priority={n}"));
    }
    if let Some(n) = o.max_priority {
        opts.push(format!("max_priority={n}"));
    }
}

fn describe(r: &Route) -> (String, String) {
    match &r.kind {
        RouteKind::Amqp { options: o, .. } => {
            let mut opts = vec![
                format!("bulk_size={}", o.bulk_size),
                format!("on_success={}", o.on_success),
                format!("on_exception={}", o.on_exception),
            ];
            if let Some(e) = o.exchange {
                opts.push(format!("exchange={e}:{}", o.exchange_type));
                if !o.bindings.is_empty() {
                    opts.push(format!("bindings={:?}", o.bindings));
                }
            }
            if let Some(d) = o.bulk_flush_interval {
                opts.push(format!(
                    "bulk_flush_interval={}",
                    humantime::format_duration(d)
                ));
            }
            if o.max_concurrency != 1 {
                opts.push(format!("max_concurrency={}", o.max_concurrency));
            }
            if let Some(n) = o.max_retries {
                opts.push(format!("max_retries={n}"));
            }
            if let Some(d) = o.retry_backoff {
                opts.push(format!("retry_backoff={}", humantime::format_duration(d)));
            }
            if o.on_decode_error != Action::Reject {
                opts.push(format!("on_decode_error={}", o.on_decode_error));
            }
            if let Some(d) = o.dead_letter {
                opts.push(format!("dead_letter={d}"));
            }
            if let Some(c) = o.connection {
                opts.push(format!("connection={c}"));
            }
            if let Some(p) = o.prefetch {
                opts.push(format!("prefetch={p}"));
            }
            if let Some(v) = o.vhost {
                opts.push(format!("vhost={v}"));
            }
            queue_flags(o, &mut opts);
            if let Some(d) = o.timeout {
                opts.push(format!("timeout={}", humantime::format_duration(d)));
            }
            if o.bisect {
                opts.push("bisect".to_owned());
            }
            let queues = if o.broadcast {
                opts.push("broadcast".to_owned());
                format!("{}.<host>.<pid>.<nonce>", o.queues.join(","))
            } else {
                o.queues.join(",")
            };
            (queues, opts.join(" "))
        }
        RouteKind::Every { options: o, .. } => (
            format!("every {}", humantime::format_duration(o.interval)),
            format!(
                "max_concurrency={} run_on_start={}",
                o.max_concurrency, o.run_on_start
            ),
        ),
        RouteKind::Cron { options: o, .. } => cron_row(o, chrono::Utc::now()),
        RouteKind::Service(route) => route.describe(&|name| std::env::var(name).ok()),
    }
}

/// The source and options of a cron route, with its next three slots
/// after `now` on its wall clock.
fn cron_row(
    o: &crate::registry::CronOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> (String, String) {
    let mut opts = vec![format!("max_concurrency={}", o.max_concurrency)];
    if o.singleton {
        opts.push("singleton".to_owned());
    }
    if o.catch_up {
        opts.push("catch_up".to_owned());
    }
    if let Some(c) = o.connection {
        opts.push(format!("connection={c}"));
    }
    if let Some(d) = o.timeout {
        opts.push(format!("timeout={}", humantime::format_duration(d)));
    }
    let next: Vec<String> = o
        .slots()
        .map(|s| s.preview(now, 3))
        .unwrap_or_default()
        .iter()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S %:z").to_string())
        .collect();
    opts.push(format!("next: {}", next.join(", ")));
    (format!("cron \"{}\" {}", o.schedule, o.tz), opts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::CronOptions;

    #[test]
    fn a_cron_row_shows_the_next_three_slots_on_its_wall_clock() {
        let o = CronOptions {
            tz: "Europe/Madrid",
            singleton: true,
            ..CronOptions::new("0 0 9 * * MON-FRI")
        };
        let (source, options) = cron_row(&o, "2026-12-04T12:00:00Z".parse().unwrap());
        assert_eq!(source, r#"cron "0 0 9 * * MON-FRI" Europe/Madrid"#);
        assert_eq!(
            options,
            "max_concurrency=1 singleton next: 2026-12-07 09:00:00 +01:00, 2026-12-08 09:00:00 +01:00, 2026-12-09 09:00:00 +01:00"
        );
    }
}
