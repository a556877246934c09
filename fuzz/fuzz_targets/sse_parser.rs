//! The SSE parser on arbitrary bytes, cut into arbitrary chunks: it never
//! panics, holds its limits, and parses a stream the same however the
//! network cut it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use worker_http::config::SseLimits;
use worker_http::sse::parser::{Item, Parser};

fn run(limits: &SseLimits, chunks: &[&[u8]]) -> (Vec<Item>, Option<String>) {
    let mut parser = Parser::with_limits(Some("start"), limits);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(overflow) = parser.feed(chunk, &mut out) {
            return (out, Some(overflow.to_string()));
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    // Small limits, so that the fuzzer reaches them.
    let limits = SseLimits {
        max_line: 64,
        max_event: 256,
        ..SseLimits::default()
    };
    let whole = run(&limits, &[stream]);
    let size = usize::from(cut % 16) + 1;
    let pieces: Vec<&[u8]> = stream.chunks(size).collect();
    let chunked = run(&limits, &pieces);
    assert_eq!(
        whole, chunked,
        "the cut changed the parse (chunks of {size})"
    );
    for item in &whole.0 {
        if let Item::Event(e) = item {
            assert!(e.data.len() <= limits.max_event, "{e:?}");
            if let Some(id) = &e.id {
                assert!(!id.contains('\0'), "{e:?}");
            }
        }
    }
});
