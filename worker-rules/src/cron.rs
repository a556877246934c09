//! Cron schedules (six fields, seconds first) and IANA time zones: checked
//! by `#[route(cron)]` at compile time, evaluated by the runtime.
//!
//! A schedule is evaluated on the wall clock of its time zone. Each
//! wall-clock slot fires once: in the hour that repeats when clocks go
//! back, a slot fires the first time it comes; in the hour that clocks
//! skip, a slot at a fixed time fires once when the clock jumps, as cron
//! does, and the slots of a step (`*/5`) inside the gap do not exist.

use chrono::{DateTime, NaiveDateTime, Utc};
pub use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// The accepted form, shown in every schedule error.
pub const FORM: &str = "six fields, seconds first: `sec min hour day-of-month month day-of-week`, e.g. `0 */5 * * * *` (every five minutes) or `0 30 9 * * MON-FRI` (09:30 on weekdays)";

/// Parses a schedule.
pub fn schedule(expr: &str) -> Result<Cron, String> {
    if expr.split_whitespace().count() != 6 {
        return Err(format!("invalid cron schedule `{expr}`: expected {FORM}"));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("invalid cron schedule `{expr}` ({e}): expected {FORM}"))
}

/// Parses an IANA time zone name. An unknown one gets the nearest names:
/// the same name in another case first, then the closest spellings.
pub fn time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        let near = nearest_zones(name);
        if near.is_empty() {
            format!("unknown time zone `{name}`: expected an IANA name such as `Europe/Madrid`, `America/New_York` or `UTC`")
        } else {
            let names: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
            format!(
                "unknown time zone `{name}` (did you mean {}?): expected an IANA name",
                names.join(" or ")
            )
        }
    })
}

/// The IANA names nearest to `name`: a case-insensitive match alone if
/// there is one, else the closest names (up to three, all at the same
/// edit distance) within a third of its length (at least 2).
pub fn nearest_zones(name: &str) -> Vec<&'static str> {
    let zones = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    if let Some(same) = zones.clone().find(|z| z.eq_ignore_ascii_case(name)) {
        return vec![same];
    }
    let lower = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).max(2);
    let mut near: Vec<(usize, &'static str)> = zones
        .map(|z| (crate::suggest::distance(&lower, &z.to_ascii_lowercase()), z))
        .filter(|(d, _)| *d <= limit)
        .collect();
    near.sort();
    let best = near.first().map(|(d, _)| *d);
    near.into_iter()
        .take_while(|(d, _)| Some(*d) == best)
        .take(3)
        .map(|(_, z)| z)
        .collect()
}

/// The slots of a schedule in a time zone, each wall-clock slot once.
#[derive(Debug, Clone)]
pub struct Slots {
    cron: Cron,
    tz: Tz,
    /// The wall-clock time of the last slot handed out.
    last: Option<NaiveDateTime>,
}

impl Slots {
    /// The slots of `cron` on the wall clock of `tz`.
    pub fn new(cron: Cron, tz: Tz) -> Self {
        Slots {
            cron,
            tz,
            last: None,
        }
    }

    /// The first slot strictly after `after` whose wall-clock time comes
    /// after the last slot handed out (a repeated hour's second pass is
    /// skipped); `None` if the schedule never fires again.
    pub fn next_after(&mut self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = after.with_timezone(&self.tz);
        for _ in 0..10_000 {
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            let wall = next.naive_local();
            if self.last.is_some_and(|last| wall <= last) {
                from = next;
                continue;
            }
            self.last = Some(wall);
            return Some(next.with_timezone(&Utc));
        }
        None
    }

    /// The latest slot at or before `at`, if any (catching up).
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.tz);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The next `n` slots after `after`, without changing this iterator.
    pub fn preview(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Tz>> {
        let mut copy = self.clone();
        std::iter::from_fn(|| copy.next_after(after).map(|t| t.with_timezone(&self.tz)))
            .take(n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn schedules_and_zones_are_checked() {
        assert!(schedule("0 */5 * * * *").is_ok());
        assert!(schedule("0 30 9 * * MON-FRI").is_ok());
        let e = schedule("*/5 * * * *").unwrap_err();
        assert!(e.contains("six fields, seconds first"), "{e}");
        let e = schedule("0 61 * * * *").unwrap_err();
        assert!(e.contains("invalid cron schedule `0 61 * * * *`"), "{e}");
        assert!(time_zone("Europe/Madrid").is_ok());
        for (typo, meant) in [
            ("Europe/Madird", "Europe/Madrid"),
            ("Europe/Berlim", "Europe/Berlin"),
            ("europe/madrid", "Europe/Madrid"),
        ] {
            let e = time_zone(typo).unwrap_err();
            assert!(e.contains(&format!("did you mean `{meant}`")), "{e}");
        }
        assert_eq!(nearest_zones("europe/madrid"), ["Europe/Madrid"]);
        assert!(time_zone("Nowhere/Atall")
            .unwrap_err()
            .contains("such as `Europe/Madrid`"));
        assert!(time_zone("UTC").is_ok());
        let e = time_zone("Europe/Madird").unwrap_err();
        assert!(e.contains("IANA name"), "{e}");
    }

    /// Every slot of a day in Madrid, as wall-clock times.
    fn day(expr: &str, from: &str, to: &str) -> Vec<NaiveDateTime> {
        let mut slots = Slots::new(schedule(expr).unwrap(), chrono_tz::Europe::Madrid);
        let (mut t, end) = (utc(from), utc(to));
        let mut out = Vec::new();
        while let Some(next) = slots.next_after(t) {
            if next >= end {
                break;
            }
            out.push(next.with_timezone(&chrono_tz::Europe::Madrid).naive_local());
            t = next;
        }
        out
    }

    #[test]
    fn spring_forward_fires_every_existing_slot_once() {
        // 2026-03-29 in Madrid: 02:00 CET becomes 03:00 CEST.
        let fired = day(
            "0 */30 * * * *",
            "2026-03-28T22:59:59Z",
            "2026-03-29T22:00:00Z",
        );
        let wall: Vec<String> = fired
            .iter()
            .map(|t| t.format("%H:%M").to_string())
            .collect();
        assert_eq!(
            &wall[..6],
            ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30"]
        );
        assert_eq!(wall.len(), 46, "48 half hours, two of which do not exist");
        // A daily 02:30 job runs once, when the clock jumps.
        let daily = day(
            "0 30 2 * * *",
            "2026-03-28T22:59:59Z",
            "2026-03-29T22:00:00Z",
        );
        assert_eq!(daily.len(), 1, "{daily:?}");
    }

    #[test]
    fn fall_back_fires_the_repeated_hour_once() {
        // 2026-10-25 in Madrid: 03:00 CEST becomes 02:00 CET.
        let fired = day(
            "0 */30 * * * *",
            "2026-10-24T21:59:59Z",
            "2026-10-25T23:00:00Z",
        );
        let mut unique = fired.clone();
        unique.dedup();
        assert_eq!(unique, fired, "no wall-clock slot twice");
        assert_eq!(fired.len(), 48, "every half hour of the day once");
        let daily = day(
            "0 30 2 * * *",
            "2026-10-24T21:59:59Z",
            "2026-10-25T23:00:00Z",
        );
        assert_eq!(daily.len(), 1, "{daily:?}");
    }

    #[test]
    fn preview() {
        let slots = Slots::new(schedule("0 0 9 * * *").unwrap(), chrono_tz::Europe::Madrid);
        let after = utc("2026-12-01T12:00:00Z");
        let next: Vec<String> = slots
            .preview(after, 3)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect();
        assert_eq!(
            next,
            [
                "2026-12-02T09:00:00+01:00",
                "2026-12-03T09:00:00+01:00",
                "2026-12-04T09:00:00+01:00"
            ]
        );
    }
}
