//! The history checker of the fault suites, the judge of every scenario.
//!
//! A scenario records a history:
//! - each **confirmed publish** (the test's publisher, once the broker has
//!   confirmed it), with the message's key and its place in that key's
//!   sequence when the scenario has keys;
//! - each **handler call** (the worker processes, through [`Recorder`]):
//!   route, process, start, end, and the ids of its batch in order;
//! - each message's **settlement**, as the broker holds it once the
//!   scenario has healed and its workers have stopped: still in the queue,
//!   dead-lettered, or gone. AMQP acks are not confirmed, so a worker's own
//!   "ack sent" proves nothing; the broker's final state is the only
//!   record of what was settled, and a handled message that is gone from
//!   its queue is acked.
//!
//! [`History::check`] then reports lost messages (confirmed, never
//! handled, and neither queued nor dead-lettered), duplicates (ids handled
//! more than once, and how often), per-key order violations, and calls of
//! two processes that ran at the same time, in one line ([`Verdict`]'s
//! `Display`) that the test prints and asserts on.
//!
//! The call record is one line per handler call, appended to the file
//! named by `FAULT_LOG`: `<route> <start µs> <end µs> <id>,<id>,…` (times
//! in microseconds since the Unix epoch, ids in batch order). Lines that
//! start with `#` are markers, which the checker ignores.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch.
pub fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_micros()
}

/// The worker side of the history: appends call records and markers to the
/// file named by `FAULT_LOG` (nothing when it is unset), one write per
/// record, so that records of concurrent calls never interleave.
#[derive(Debug)]
pub struct Recorder;

impl Recorder {
    /// Records a handler call of `route` that started at `start` (from
    /// [`unix_micros`]) and ends now, with the ids of its batch.
    pub fn call(route: &str, start: u128, ids: impl IntoIterator<Item = u64>) {
        let mut line = format!("{route} {start} {} ", unix_micros());
        for (i, id) in ids.into_iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&id.to_string());
        }
        line.push('\n');
        write(&line);
    }

    /// A line the checker ignores (`# <what>`), for tests that watch
    /// progress or other events.
    pub fn marker(what: &str) {
        write(&format!("# {what}\n"));
    }
}

fn write(text: &str) {
    static LOG: OnceLock<Mutex<Option<File>>> = OnceLock::new();
    let log = LOG.get_or_init(|| {
        let file = std::env::var_os("FAULT_LOG").map(|path| {
            File::options()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("FAULT_LOG {path:?}: {e}"))
        });
        Mutex::new(file)
    });
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(file) = log.as_mut() {
        file.write_all(text.as_bytes()).expect("write FAULT_LOG");
    }
}

/// One handler call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The process that ran it (the test's name for the worker).
    pub process: String,
    /// The route.
    pub route: String,
    /// Start, in microseconds since the Unix epoch.
    pub start: u128,
    /// End, in microseconds since the Unix epoch.
    pub end: u128,
    /// The ids of the batch, in batch order.
    pub ids: Vec<u64>,
}

impl Call {
    /// Parses a call record line of `process`; `None` for markers and
    /// empty lines.
    ///
    /// # Panics
    /// On a line that is neither, with the line in the message.
    pub fn parse(process: &str, line: &str) -> Option<Call> {
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let bad = || panic!("not a call record: `{line}`");
        let mut fields = line.splitn(4, ' ');
        let (Some(route), Some(start), Some(end)) = (fields.next(), fields.next(), fields.next())
        else {
            bad()
        };
        let ids = fields.next().unwrap_or("");
        let number = |s: &str| s.parse::<u128>().unwrap_or_else(|_| bad());
        Some(Call {
            process: process.to_owned(),
            route: route.to_owned(),
            start: number(start),
            end: number(end),
            ids: ids
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap_or_else(|_| bad()))
                .collect(),
        })
    }
}

/// What a scenario recorded, for one route.
#[derive(Debug, Default)]
pub struct History {
    /// Confirmed ids, in publish order.
    published: Vec<u64>,
    /// id -> (key, place in the key's sequence), for keyed publishes.
    keyed: BTreeMap<u64, (u64, u64)>,
    /// Next place per key.
    next_seq: BTreeMap<u64, u64>,
    calls: Vec<Call>,
    in_queue: BTreeSet<u64>,
    dead_lettered: BTreeSet<u64>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Messages the broker confirmed, in publish order, with no key.
    pub fn confirmed(&mut self, ids: impl IntoIterator<Item = u64>) {
        self.published.extend(ids);
    }

    /// Messages the broker confirmed, in publish order, each with its key:
    /// each key's handled sequence should be its published one.
    pub fn confirmed_keyed(&mut self, ids: impl IntoIterator<Item = (u64, u64)>) {
        for (id, key) in ids {
            let seq = self.next_seq.entry(key).or_insert(0);
            self.keyed.insert(id, (key, *seq));
            *seq += 1;
            self.published.push(id);
        }
    }

    /// Handler calls (of the route under test; others are left out by
    /// the caller).
    pub fn calls(&mut self, calls: impl IntoIterator<Item = Call>) {
        self.calls.extend(calls);
    }

    /// The broker's final state: ids still in the queue, and ids in the
    /// dead-letter queue.
    pub fn settled(
        &mut self,
        in_queue: impl IntoIterator<Item = u64>,
        dead_lettered: impl IntoIterator<Item = u64>,
    ) {
        self.in_queue.extend(in_queue);
        self.dead_lettered.extend(dead_lettered);
    }

    /// Judges the history.
    pub fn check(&self) -> Verdict {
        let mut calls: Vec<&Call> = self.calls.iter().collect();
        calls.sort_by(|a, b| (a.start, &a.process).cmp(&(b.start, &b.process)));
        let mut handled: BTreeMap<u64, u32> = BTreeMap::new();
        for id in calls.iter().flat_map(|c| &c.ids) {
            *handled.entry(*id).or_insert(0) += 1;
        }
        let accounting = Accounting::of(
            self.published.iter().copied(),
            &handled,
            &self.dead_lettered.iter().copied().collect::<Vec<_>>(),
            &self.in_queue.iter().copied().collect::<Vec<_>>(),
        );
        let published: BTreeSet<u64> = self.published.iter().copied().collect();
        let (order_violations, repeats) = self.order(&calls);
        Verdict {
            calls: calls.len(),
            duplicated_ids: handled.values().filter(|&&n| n > 1).count(),
            most_handlings: handled.values().copied().max().unwrap_or(0),
            unpublished: handled.keys().filter(|id| !published.contains(id)).count(),
            keys: self.next_seq.len(),
            order_violations,
            repeats,
            overlaps: overlaps(&calls),
            handovers: calls
                .windows(2)
                .filter(|p| p[0].process != p[1].process)
                .count(),
            accounting,
        }
    }

    /// Per key, in handling order (calls by start, ids in batch order): a
    /// first handling of a message while an earlier message of its key
    /// has not been handled yet is a violation; handling a message again
    /// (a redelivery) is a repeat, allowed and counted.
    fn order(&self, calls: &[&Call]) -> (Vec<OrderViolation>, usize) {
        // Per key: the places handled, and the lowest place not handled.
        let mut seen: BTreeMap<u64, (BTreeSet<u64>, u64)> = BTreeMap::new();
        let mut violations = Vec::new();
        let mut repeats = 0;
        for call in calls {
            for id in &call.ids {
                let Some(&(key, seq)) = self.keyed.get(id) else {
                    continue;
                };
                let (done, lowest) = seen.entry(key).or_default();
                if !done.insert(seq) {
                    repeats += 1;
                    continue;
                }
                if seq > *lowest {
                    violations.push(OrderViolation {
                        key,
                        id: *id,
                        seq,
                        expected: *lowest,
                        process: call.process.clone(),
                    });
                }
                while done.contains(lowest) {
                    *lowest += 1;
                }
            }
        }
        (violations, repeats)
    }
}

/// Pairs of calls of two different processes that ran at the same time.
fn overlaps(sorted: &[&Call]) -> Vec<Overlap> {
    let mut found = Vec::new();
    for (i, a) in sorted.iter().enumerate() {
        for b in &sorted[i + 1..] {
            if b.start >= a.end {
                break;
            }
            if a.process != b.process {
                found.push(Overlap {
                    first: a.process.clone(),
                    second: b.process.clone(),
                    micros: a.end.min(b.end) - b.start,
                });
            }
        }
    }
    found
}

/// A message handled (for the first time) before an earlier message of
/// its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderViolation {
    /// The key.
    pub key: u64,
    /// The message handled too early.
    pub id: u64,
    /// Its place in the key's published sequence.
    pub seq: u64,
    /// The earliest place of the key not handled by then.
    pub expected: u64,
    /// The process that handled it.
    pub process: String,
}

/// Two calls of different processes that ran at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The process whose call started first.
    pub first: String,
    /// The other process.
    pub second: String,
    /// How long both ran, in microseconds.
    pub micros: u128,
}

/// The checker's findings.
#[derive(Debug)]
pub struct Verdict {
    /// Where every confirmed message ended.
    pub accounting: Accounting,
    /// Handler calls in the history.
    pub calls: usize,
    /// Ids handled more than once.
    pub duplicated_ids: usize,
    /// The most times one id was handled.
    pub most_handlings: u32,
    /// Ids handled that were never confirmed (a broken history).
    pub unpublished: usize,
    /// Keys of keyed publishes.
    pub keys: usize,
    /// First handlings that overtook an earlier message of their key.
    pub order_violations: Vec<OrderViolation>,
    /// Handlings of keyed messages already handled (redeliveries).
    pub repeats: usize,
    /// Calls of two processes at the same time.
    pub overlaps: Vec<Overlap>,
    /// Consecutive calls (by start) of different processes.
    pub handovers: usize,
}

impl Verdict {
    /// The widest overlap of two processes' calls, in milliseconds.
    pub fn overlap_window_ms(&self) -> u128 {
        self.overlaps.iter().map(|o| o.micros).max().unwrap_or(0) / 1000
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "history: {}; {} calls, {} ids handled more than once (at most {} times), {} handled unpublished; ",
            self.accounting.summary(),
            self.calls,
            self.duplicated_ids,
            self.most_handlings,
            self.unpublished
        )?;
        if self.keys > 0 {
            write!(
                f,
                "{} order violations over {} keys, {} repeats; ",
                self.order_violations.len(),
                self.keys,
                self.repeats
            )?;
        }
        write!(
            f,
            "{} overlapping calls of two processes (widest {} ms), {} hand-overs",
            self.overlaps.len(),
            self.overlap_window_ms(),
            self.handovers
        )
    }
}

/// Where every published message ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Accounting {
    /// Confirmed messages.
    pub published: usize,
    /// Handled, and neither in the queue nor dead-lettered: acked.
    pub acked: usize,
    /// In the dead-letter queue.
    pub dead_lettered: usize,
    /// Still in the queue (requeued or never delivered).
    pub in_queue: usize,
    /// Handled, yet back in the queue (handled before a crash, not acked).
    pub handled_and_in_queue: usize,
    /// Extra handlings beyond the first (redeliveries).
    pub duplicates: usize,
    /// Nowhere: never handled, not in the queue, not dead-lettered.
    pub lost: Vec<u64>,
}

impl Accounting {
    /// Classifies every published id from how often it was handled and
    /// where the broker holds it.
    pub fn of(
        published: impl IntoIterator<Item = u64>,
        handled: &BTreeMap<u64, u32>,
        dead_lettered: &[u64],
        in_queue: &[u64],
    ) -> Accounting {
        let dlq: BTreeSet<u64> = dead_lettered.iter().copied().collect();
        let queued: BTreeSet<u64> = in_queue.iter().copied().collect();
        let mut a = Accounting {
            published: 0,
            acked: 0,
            dead_lettered: 0,
            in_queue: 0,
            handled_and_in_queue: 0,
            duplicates: 0,
            lost: Vec::new(),
        };
        for id in published {
            a.published += 1;
            let times = handled.get(&id).copied().unwrap_or(0);
            a.duplicates += times.saturating_sub(1) as usize;
            if dlq.contains(&id) {
                a.dead_lettered += 1;
            } else if queued.contains(&id) {
                a.in_queue += 1;
                if times > 0 {
                    a.handled_and_in_queue += 1;
                }
            } else if times > 0 {
                a.acked += 1;
            } else {
                a.lost.push(id);
            }
        }
        a
    }

    /// One line for the test output (and the documented figures).
    pub fn summary(&self) -> String {
        format!(
            "published {}, acked {}, dead-lettered {}, in queue {}, handled-and-requeued {}, duplicates {}, lost {}",
            self.published,
            self.acked,
            self.dead_lettered,
            self.in_queue,
            self.handled_and_in_queue,
            self.duplicates,
            self.lost.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(process: &str, start: u128, end: u128, ids: &[u64]) -> Call {
        Call {
            process: process.into(),
            route: "r".into(),
            start,
            end,
            ids: ids.to_vec(),
        }
    }

    #[test]
    fn a_call_record_round_trips_through_its_line() {
        let c = Call::parse("w1", "sole 10 25 3,1,2").unwrap();
        assert_eq!(
            c,
            Call {
                route: "sole".into(),
                ..call("w1", 10, 25, &[3, 1, 2])
            }
        );
        assert_eq!(Call::parse("w1", "# tick 5"), None);
        assert_eq!(Call::parse("w1", "r 1 2 ").unwrap().ids, Vec::<u64>::new());
    }

    #[test]
    #[should_panic(expected = "not a call record: `r 1 x 2`")]
    fn a_malformed_record_is_refused() {
        Call::parse("w", "r 1 x 2");
    }

    #[test]
    fn lost_duplicated_queued_and_dead_lettered_messages_are_told_apart() {
        let mut h = History::new();
        h.confirmed(0..6);
        h.calls([
            call("a", 0, 5, &[0, 1, 2]),
            call("b", 10, 15, &[1, 2, 4, 7]),
        ]);
        // 3 never handled and gone: lost; 4 handled and back in the queue;
        // 5 dead-lettered unhandled; 7 handled but never confirmed.
        h.settled([4], [5]);
        let v = h.check();
        assert_eq!(v.accounting.lost, vec![3]);
        assert_eq!(v.accounting.acked, 3);
        assert_eq!(v.accounting.handled_and_in_queue, 1);
        assert_eq!(v.accounting.dead_lettered, 1);
        assert_eq!(v.accounting.duplicates, 2);
        assert_eq!(
            (v.duplicated_ids, v.most_handlings, v.unpublished),
            (2, 2, 1)
        );
        assert!(v.overlaps.is_empty());
        assert_eq!(
            v.to_string(),
            "history: published 6, acked 3, dead-lettered 1, in queue 1, handled-and-requeued 1, duplicates 2, lost 1; 2 calls, 2 ids handled more than once (at most 2 times), 1 handled unpublished; 0 overlapping calls of two processes (widest 0 ms), 1 hand-overs"
        );
    }

    #[test]
    fn per_key_order_allows_repeats_and_counts_overtaking() {
        let mut h = History::new();
        // Key 1: ids 10, 11, 12; key 2: ids 20, 21.
        h.confirmed_keyed([(10, 1), (20, 2), (11, 1), (21, 2), (12, 1)]);
        h.calls([
            call("a", 0, 5, &[10, 20, 11]),
            // A redelivery of 11 (a repeat), then 21 and 12, each in order.
            call("b", 10, 15, &[11, 21, 12]),
        ]);
        let v = h.check();
        assert!(v.order_violations.is_empty(), "{:?}", v.order_violations);
        assert_eq!((v.keys, v.repeats), (2, 1));

        let mut h = History::new();
        h.confirmed_keyed([(10, 1), (11, 1), (12, 1)]);
        // 12 overtakes 11; 11 arriving later is not a second violation.
        h.calls([call("a", 0, 5, &[10, 12]), call("a", 6, 9, &[11])]);
        let v = h.check();
        assert_eq!(
            v.order_violations,
            vec![OrderViolation {
                key: 1,
                id: 12,
                seq: 2,
                expected: 1,
                process: "a".into()
            }]
        );
        assert!(
            v.to_string()
                .contains("1 order violations over 1 keys, 0 repeats"),
            "{v}"
        );
    }

    #[test]
    fn calls_are_ordered_by_start_whatever_the_order_they_were_read_in() {
        let mut h = History::new();
        h.confirmed_keyed([(1, 7), (2, 7)]);
        h.calls([call("b", 20, 30, &[2]), call("a", 0, 10, &[1])]);
        assert!(h.check().order_violations.is_empty());
    }

    #[test]
    fn overlaps_are_counted_between_processes_only() {
        let mut h = History::new();
        h.calls([
            call("a", 0, 100, &[]),
            call("a", 50, 60, &[]),
            call("b", 90, 300, &[]),
            call("c", 2_000, 5_000, &[]),
            call("b", 250, 2_500, &[]),
        ]);
        let v = h.check();
        let pairs: Vec<(&str, &str, u128)> = v
            .overlaps
            .iter()
            .map(|o| (o.first.as_str(), o.second.as_str(), o.micros))
            .collect();
        assert_eq!(pairs, vec![("a", "b", 10), ("b", "c", 500)]);
        assert_eq!(v.overlap_window_ms(), 0);
        // a, a, b, b, c by start.
        assert_eq!(v.handovers, 2);
    }
}
