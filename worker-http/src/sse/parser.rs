//! An incremental `text/event-stream` parser (WHATWG HTML, "Server-sent
//! events", section 9.2.6).
//!
//! Written here rather than taken from a crate because the consumer needs
//! what the spec calls the stream's state, not only the events: `retry:`
//! fields (which come without data and dispatch nothing) and the last event
//! ID as set at dispatch time, for resuming with `Last-Event-ID`.
//!
//! What it holds is bounded: a line longer than [`SseLimits::max_line`] or
//! an event whose data grows past [`SseLimits::max_event`] ends the parse
//! with an [`Overflow`] (the consumer then drops the connection), so a
//! stream without line endings cannot fill the memory.

use std::fmt;
use std::time::Duration;

use crate::config::SseLimits;

/// The shortest reconnection time a server's `retry:` sets: `retry: 0`
/// must not make a reconnect loop without pause.
pub const RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest reconnection time a server's `retry:` sets: a huge value
/// must not park the route for days.
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// The longest event ID kept, in bytes. A longer one is ignored, as an ID
/// with NUL is (the spec), and so is one that cannot be sent back as a
/// `Last-Event-ID` header (other control characters): an ID that every
/// later reconnect would fail to send must not be kept.
pub const MAX_ID_LEN: usize = 1024;

/// Whether `id` can be kept and sent back as `Last-Event-ID`.
pub(crate) fn sendable_id(id: &str) -> bool {
    id.len() <= MAX_ID_LEN && reqwest::header::HeaderValue::from_str(id).is_ok()
}

/// A dispatched event, its data not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The last event ID when the event was dispatched (`None` if empty).
    pub id: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// What the parser reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An event was dispatched.
    Event(RawEvent),
    /// The server set the reconnection time.
    Retry(Duration),
}

/// Why a stream cannot be parsed further: it passed a bound of
/// [`SseLimits`]. The parser is not to be fed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// A line longer than `max_line` (`WORKER_SSE_MAX_LINE`).
    LineTooLong,
    /// An event's data larger than `max_event` (`WORKER_SSE_MAX_EVENT`).
    EventTooLarge,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Overflow::LineTooLong => "a line is longer than the line limit",
            Overflow::EventTooLarge => "an event's data is larger than the event limit",
        })
    }
}

/// Parses one connection's byte stream.
#[derive(Debug)]
pub struct Parser {
    max_line: usize,
    max_event: usize,
    line: Vec<u8>,
    after_cr: bool,
    at_start: bool,
    data: String,
    has_data: bool,
    event: String,
    last_id: String,
}

impl Parser {
    /// A parser for a new connection, starting with the last event ID of
    /// the previous one, with the default [`SseLimits`].
    pub fn new(last_id: Option<&str>) -> Self {
        Self::with_limits(last_id, &SseLimits::default())
    }

    /// A parser for a new connection bounded by `limits`.
    pub fn with_limits(last_id: Option<&str>, limits: &SseLimits) -> Self {
        Parser {
            max_line: limits.max_line,
            max_event: limits.max_event,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            data: String::new(),
            has_data: false,
            event: String::new(),
            last_id: last_id.unwrap_or_default().to_owned(),
        }
    }

    /// Feeds bytes; complete events and retry settings are pushed to `out`
    /// (those before an overflow too).
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Item>) -> Result<(), Overflow> {
        if self.at_start && !chunk.is_empty() {
            // A leading UTF-8 BOM is ignored; it may be split across chunks.
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let have = self.line.len();
            let take = (BOM.len() - have).min(chunk.len());
            if BOM[have..have + take] == chunk[..take] {
                self.line.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if self.line.len() < BOM.len() {
                    return Ok(());
                }
                self.line.clear();
            } else {
                // Not a BOM: the bytes kept so far are content.
            }
            self.at_start = false;
        }
        for &b in chunk {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    let done = self.line_done(&line, out);
                    self.line = line;
                    self.line.clear();
                    done?;
                }
                _ => {
                    self.after_cr = false;
                    if self.line.len() >= self.max_line {
                        return Err(Overflow::LineTooLong);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Item>) -> Result<(), Overflow> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                let grown = self.data.len() + usize::from(self.has_data) + value.len();
                if grown > self.max_event {
                    return Err(Overflow::EventTooLarge);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if sendable_id(value) => self.last_id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // Digits only: a number too large for u64 is the longest.
                let ms = value.parse::<u64>().unwrap_or(u64::MAX);
                let retry = Duration::from_millis(ms).clamp(RETRY_MIN, RETRY_MAX);
                out.push(Item::Retry(retry));
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<Item>) {
        let event = std::mem::take(&mut self.event);
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push(Item::Event(RawEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            id: (!self.last_id.is_empty()).then(|| self.last_id.clone()),
            data: std::mem::take(&mut self.data),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<Item> {
        let mut p = Parser::new(None);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out).unwrap();
        }
        out
    }

    fn ev(event: &str, id: Option<&str>, data: &str) -> Item {
        Item::Event(RawEvent {
            event: event.into(),
            id: id.map(Into::into),
            data: data.into(),
        })
    }

    #[test]
    fn parses_fields_comments_and_multiline_data() {
        let out = parse_chunks(&[
            b": hello\n\nevent: add\nid: 1\ndata: {\"a\":\ndata:1}\n\ndata: plain\n\n",
        ]);
        assert_eq!(
            out,
            [
                ev("add", Some("1"), "{\"a\":\n1}"),
                ev("message", Some("1"), "plain")
            ]
        );
    }

    #[test]
    fn any_line_ending_and_any_split_point() {
        let text = b"\xEF\xBB\xBFid: 7\r\ndata: a\r\n\r\nevent: x\rdata: b\r\rdata: c\n\n";
        let expected = [
            ev("message", Some("7"), "a"),
            ev("x", Some("7"), "b"),
            ev("message", Some("7"), "c"),
        ];
        for split in 0..text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(parse_chunks(&[a, b]), expected, "split at {split}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes), expected);
    }

    #[test]
    fn retry_and_id_rules() {
        let out =
            parse_chunks(&[b"retry: 1500\n\nretry: soon\nid\ndata: x\n\nid: a\0b\ndata: y\n\n"]);
        assert_eq!(
            out,
            [
                Item::Retry(Duration::from_millis(1500)),
                ev("message", None, "x"),
                ev("message", None, "y")
            ]
        );
        // An event without data dispatches nothing, and forgets its type.
        let out = parse_chunks(&[b"event: lonely\n\ndata: z\n\n"]);
        assert_eq!(out, [ev("message", None, "z")]);
        // The last ID of the previous connection carries over; an incomplete
        // event at the end is not dispatched.
        let mut p = Parser::new(Some("41"));
        let mut out = Vec::new();
        p.feed(b"data: q\n\ndata: partial", &mut out).unwrap();
        assert_eq!(out, [ev("message", Some("41"), "q")]);
        // "data" with no colon is an empty data line.
        assert_eq!(parse_chunks(&[b"data\n\n"]), [ev("message", None, "")]);
    }

    #[test]
    fn retry_is_clamped() {
        let out = parse_chunks(&[b"retry: 0\nretry: 99999999999999999999999\nretry: 2000\n"]);
        assert_eq!(
            out,
            [
                Item::Retry(RETRY_MIN),
                Item::Retry(RETRY_MAX),
                Item::Retry(Duration::from_secs(2))
            ]
        );
    }

    #[test]
    fn ids_that_cannot_be_sent_back_are_ignored() {
        let long = format!("id: {}\ndata: l\n\n", "x".repeat(MAX_ID_LEN + 1));
        let fits = format!("id: {}\ndata: f\n\n", "y".repeat(MAX_ID_LEN));
        let mut p = Parser::new(Some("7"));
        let mut out = Vec::new();
        p.feed(b"id: a\x01b\ndata: c\n\n", &mut out).unwrap();
        p.feed(long.as_bytes(), &mut out).unwrap();
        p.feed(b"id: \x7f\ndata: d\n\n", &mut out).unwrap();
        p.feed(fits.as_bytes(), &mut out).unwrap();
        let y = "y".repeat(MAX_ID_LEN);
        assert_eq!(
            out,
            [
                ev("message", Some("7"), "c"),
                ev("message", Some("7"), "l"),
                ev("message", Some("7"), "d"),
                ev("message", Some(&y), "f"),
            ]
        );
    }

    #[test]
    fn spec_parsing_cases() {
        // One leading space is stripped, and only one; none is needed.
        let out = parse_chunks(&[b"data:  two\n\ndata:none\n\n"]);
        assert_eq!(
            out,
            [ev("message", None, " two"), ev("message", None, "none")]
        );
        // `data` lines join with LF, an empty one (no colon) included;
        // unknown fields and comments change nothing.
        let out = parse_chunks(&[b"data: a\ndata\nfoo: bar\n: note\ndata: b\n\n"]);
        assert_eq!(out, [ev("message", None, "a\n\nb")]);
        // Mixed line endings in one stream; CR then LF ends one line.
        let out = parse_chunks(&[b"data: a\r\ndata: b\rdata: c\n\r\n"]);
        assert_eq!(out, [ev("message", None, "a\nb\nc")]);
        // `retry` takes ASCII digits only.
        let out = parse_chunks(&[b"retry: 1.5\nretry: -1\nretry:  100\nretry\nretry:200\n"]);
        assert_eq!(out, [Item::Retry(Duration::from_millis(200))]);
        // An empty `id` clears the last event ID; an id with NUL is ignored.
        let out = parse_chunks(&[b"id: 3\ndata: x\n\nid: 4\0\ndata: y\n\nid\ndata: z\n\n"]);
        assert_eq!(
            out,
            [
                ev("message", Some("3"), "x"),
                ev("message", Some("3"), "y"),
                ev("message", None, "z")
            ]
        );
        // Only a blank line dispatches: not a comment, not the stream's end.
        assert_eq!(parse_chunks(&[b"data: a\n: c\nevent: e\n"]), []);
        // Only the stream's first BOM is skipped: a later one is part of
        // the field name, an unknown field.
        let out = parse_chunks(&[b"\xEF\xBB\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\n"]);
        assert_eq!(out, [ev("message", None, "x")]);
    }

    fn bounded(max_line: usize, max_event: usize) -> Parser {
        let limits = SseLimits {
            max_line,
            max_event,
            ..SseLimits::default()
        };
        Parser::with_limits(None, &limits)
    }

    #[test]
    fn a_line_past_the_limit_overflows_across_chunks() {
        // A line of exactly the limit is fine, line ending excluded.
        let mut p = bounded(8, 100);
        let mut out = Vec::new();
        p.feed(b"data: 12\r\n\r\n", &mut out).unwrap();
        assert_eq!(out, [ev("message", None, "12")]);
        // A line without end, fed in pieces: the buffer never holds more
        // than the limit, and the byte past it overflows.
        let mut p = bounded(1000, 100);
        let mut fed = 0;
        let err = loop {
            match p.feed(&[b'x'; 7], &mut out) {
                Ok(()) => fed += 7,
                Err(e) => break e,
            }
            assert!(p.line.len() <= 1000 && fed <= 1000);
        };
        assert_eq!((err, fed), (Overflow::LineTooLong, 994));
        // A comment line is bounded too.
        let mut p = bounded(8, 100);
        let long_comment = p
            .feed(b": 345678", &mut out)
            .and_then(|()| p.feed(b"9\n", &mut out));
        assert_eq!(long_comment, Err(Overflow::LineTooLong));
    }

    #[test]
    fn an_event_past_the_limit_overflows_across_chunks() {
        // Data of exactly the limit, its joining LF counted.
        let mut p = bounded(100, 10);
        let mut out = Vec::new();
        p.feed(b"data: 12345\nda", &mut out).unwrap();
        p.feed(b"ta: 1234\n\n", &mut out).unwrap();
        assert_eq!(out, [ev("message", None, "12345\n1234")]);
        // The limit is per event: many events fit.
        for _ in 0..10 {
            p.feed(b"data: 123456789\n\n", &mut out).unwrap();
        }
        assert_eq!(out.len(), 11);
        // Lines that each fit add up past it; the events before are out.
        out.clear();
        let mut p = bounded(100, 10);
        p.feed(b"data: ok\n\ndata: 12345\n", &mut out).unwrap();
        assert_eq!(
            p.feed(b"data: 12345\n", &mut out),
            Err(Overflow::EventTooLarge)
        );
        assert_eq!(out, [ev("message", None, "ok")]);
        assert!(p.data.len() <= 10);
    }
}
