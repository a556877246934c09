//! HTTP under bad input: the `fault-worker` binary (embedded broker, no
//! RabbitMQ needed) is run as a separate process and fed, over raw TCP, a
//! fixed corpus of malformed HTTP/1.1 requests (bad path parameters, bodies,
//! query strings, methods, headers, request lines, non-HTTP bytes, oversized
//! and truncated bodies) plus a few hundred requests mutated from valid ones
//! by a seeded PRNG, so every run sends the same bytes.
//!
//! It proves that
//! - no input yields a 5xx or kills the process: every answer is a 2xx (for
//!   input the extractors legitimately accept) or a 4xx, and the worker still
//!   serves `GET /items/7` and reports no 5xx in `/metrics` afterwards;
//! - every 4xx produced by the framework's routes (as opposed to hyper's own
//!   parse errors) is the JSON error shape `{"error": "...", "status": N}`;
//! - the server closes a connection without an answer only where that is
//!   legitimate (non-HTTP bytes, oversized headers, an oversized body);
//! - clients that send half a request and then stall do not block others,
//!   and do not hold up shutdown.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Failure bound of any single exchange: a server that neither answers nor
/// closes within it is hung.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// The worker process
// ---------------------------------------------------------------------------

/// A running `fault-worker`; killed when dropped, also on panic.
struct Worker {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Worker {
    /// Starts the binary on a free port with the embedded broker and waits
    /// until `GET /health/live` answers 200.
    async fn start(scenario: &str) -> Worker {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            probe.local_addr().expect("local addr").port()
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = std::env::temp_dir().join(format!(
            "worker-http-fuzz-{scenario}-{}.log",
            std::process::id()
        ));
        let out = File::create(&log).expect("create the worker log");
        let err = out.try_clone().expect("clone the worker log");
        let child = Command::new(env!("CARGO_BIN_EXE_fault-worker"))
            .env("WORKER_AMQP_URL", "memory://")
            .env("WORKER_HTTP_ADDR", addr.to_string())
            .env("WORKER_LOG", "warn")
            .env_remove("FAULT_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn fault-worker");
        let mut worker = Worker { child, addr, log };
        worker.wait_live().await;
        worker
    }

    async fn wait_live(&mut self) {
        let client = worker_testkit::http_client();
        let url = self.url("/health/live");
        let limit = Duration::from_secs(30);
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "fault-worker exited during startup with {status}\n{}",
                    self.log_tail()
                );
            }
            let res = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if matches!(&res, Ok(r) if r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "fault-worker not live after {limit:?} (last: {res:?})\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Panics, with the log, if the process has exited.
    fn assert_alive(&mut self, after: &str) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!(
                "fault-worker exited with {status} after {after}\n{}",
                self.log_tail()
            );
        }
    }

    /// The last 8 KB of the process's stdout/stderr.
    fn log_tail(&self) -> String {
        const TAIL: u64 = 8 * 1024;
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        format!(
            "--- tail of {} ---\n{text}\n--- end of log ---",
            self.log.display()
        )
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Raw HTTP exchanges
// ---------------------------------------------------------------------------

/// A parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What came back on one connection.
#[derive(Debug)]
enum Outcome {
    Response(Response),
    /// Closed or reset before a complete status line and headers arrived.
    Dropped(String),
    /// Bytes that are not an HTTP response.
    Garbled(String),
}

/// Writes `request` on a fresh connection while reading the answer
/// concurrently (so a response sent before the server stops reading a huge
/// body is still seen), until the server closes the connection. With
/// `half_close`, shuts down the write side once everything is written.
/// Returns the outcome and whether writing failed (the server stopped
/// reading).
async fn exchange(addr: SocketAddr, request: &[u8], half_close: bool) -> (Outcome, bool) {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the worker");
    let (mut rd, mut wr) = stream.into_split();
    let req = request.to_vec();
    // The write half is returned rather than dropped: dropping it would
    // shut the write side down, which is a different request.
    let writer = tokio::spawn(async move {
        let mut result = wr.write_all(&req).await;
        if result.is_ok() && half_close {
            result = wr.shutdown().await;
        }
        (wr, result.is_err())
    });
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(EXCHANGE_LIMIT, rd.read_to_end(&mut bytes)).await;
    let read_error = match read {
        Err(_) => {
            writer.abort();
            return (
                Outcome::Garbled(format!(
                    "no answer and no close within {EXCHANGE_LIMIT:?} (the server hung); got {:?}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                )),
                false,
            );
        }
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
    };
    writer.abort();
    let write_failed = match writer.await {
        Ok((_wr, failed)) => failed,
        // Still writing when the server closed: it stopped reading.
        Err(_) => true,
    };
    (parse_response(&bytes, read_error), write_failed)
}

fn parse_response(bytes: &[u8], read_error: Option<String>) -> Outcome {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if bytes.is_empty() || b"HTTP/".starts_with(&bytes[..bytes.len().min(5)]) {
            Outcome::Dropped(match read_error {
                Some(e) => format!("connection error ({e}) after {} bytes", bytes.len()),
                None => format!("closed after {} bytes", bytes.len()),
            })
        } else {
            Outcome::Garbled(format!(
                "{:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))
        };
    };
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let status = match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(s))) if v.starts_with("HTTP/1.") => s,
        _ => return Outcome::Garbled(format!("status line {status_line:?}")),
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut rest = &bytes[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = std::str::from_utf8(&rest[..eol])
                .ok()
                .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
            let Some(size) = size else { break };
            let start = eol + 2;
            if size == 0 || rest.len() < start + size {
                break;
            }
            body.extend_from_slice(&rest[start..start + size]);
            rest = &rest[(start + size + 2).min(rest.len())..];
        }
        body
    } else {
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(rest.len());
        rest[..len.min(rest.len())].to_vec()
    };
    Outcome::Response(Response {
        status,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------
// Cases and their expectations
// ---------------------------------------------------------------------------

/// What a case may get back. Whatever the case, a 5xx, a 1xx/3xx or bytes
/// that are not HTTP are failures.
#[derive(Debug, Clone, Copy)]
struct Expect {
    /// A 2xx is acceptable (the input is odd but the extractors accept it).
    ok_2xx: bool,
    /// The server may close the connection without answering.
    may_drop: bool,
    /// The request reaches the router: a 4xx must be the JSON error shape.
    routed: bool,
}

/// Bad input the framework must reject with a JSON 4xx.
const REJECT: Expect = Expect {
    ok_2xx: false,
    may_drop: false,
    routed: true,
};
/// Odd input the extractors may accept (2xx) or reject (JSON 4xx).
const LENIENT: Expect = Expect {
    ok_2xx: true,
    may_drop: false,
    routed: true,
};
/// Malformed HTTP that hyper rejects before routing, with a response.
const HYPER_REJECT: Expect = Expect {
    ok_2xx: false,
    may_drop: false,
    routed: false,
};
/// Legitimate drops, listed explicitly: not HTTP at all, or headers past
/// hyper's limits (431 or close).
const HYPER_DROP: Expect = Expect {
    ok_2xx: false,
    may_drop: true,
    routed: false,
};
/// A large header under hyper's buffer limit: served (2xx) or 431/closed.
const BIG_HEADER: Expect = Expect {
    ok_2xx: true,
    may_drop: true,
    routed: false,
};
/// A body past the extractor's limit: a JSON 413, or closed while the
/// client is still writing (a legitimate drop).
const OVERSIZED_BODY: Expect = Expect {
    ok_2xx: false,
    may_drop: true,
    routed: true,
};

struct Case {
    name: String,
    /// Groups the counts of the summary (fixed cases: their own name).
    group: &'static str,
    request: Vec<u8>,
    half_close: bool,
    expect: Expect,
}

impl Case {
    fn new(name: impl Into<String>, request: Vec<u8>, expect: Expect) -> Case {
        Case {
            name: name.into(),
            group: "corpus",
            request,
            half_close: false,
            expect,
        }
    }

    fn half_close(mut self) -> Case {
        self.half_close = true;
        self
    }
}

/// A well-formed HTTP/1.1 request (`Host`, `Connection: close`, and a
/// `Content-Length` when there is a body or the method usually has one).
fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n");
    for (n, v) in headers {
        let _ = write!(out, "{n}: {v}\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn get(target: &str) -> Vec<u8> {
    request("GET", target, &[], b"")
}

fn post_json(body: &[u8]) -> Vec<u8> {
    request(
        "POST",
        "/items",
        &[("Content-Type", "application/json")],
        body,
    )
}

/// A request line and headers written verbatim, no `Content-Length` added.
fn raw(head: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = head.as_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

/// The fixed corpus.
fn corpus() -> Vec<Case> {
    let long_param = "a".repeat(10 * 1024);
    let long_path = "/seg".repeat(10 * 1024 / 4);
    let deep_json = "[".repeat(10_000);
    let big_body = {
        let mut b = br#"{"id":1,"pad":""#.to_vec();
        b.resize(b.len() + 10 * 1024 * 1024, b'a');
        b.extend_from_slice(br#""}"#);
        b
    };
    let many_headers: String = (0..200).map(|i| format!("X-Fuzz-{i}: v\r\n")).collect();
    let header_64k = format!("X-Big: {}\r\n", "a".repeat(64 * 1024));
    let header_1m = format!("X-Big: {}\r\n", "a".repeat(1024 * 1024));
    let huge_uri = format!("/items/{}", "1".repeat(100 * 1024));
    let long_query = format!("/search?q={}&limit=1", "q".repeat(10 * 1024));

    vec![
        // Path parameter of GET /items/{id} (u64).
        Case::new("path: non-numeric", get("/items/abc"), REJECT),
        Case::new("path: negative", get("/items/-1"), REJECT),
        Case::new("path: u64::MAX + 1", get("/items/18446744073709551616"), REJECT),
        Case::new("path: 26 digits", get("/items/99999999999999999999999999"), REJECT),
        Case::new("path: float", get("/items/1.5"), REJECT),
        Case::new("path: hex", get("/items/0x10"), REJECT),
        Case::new("path: percent-encoded letters", get("/items/%41%42"), REJECT),
        Case::new("path: percent-encoded garbage", get("/items/%ZZ%"), REJECT),
        Case::new("path: invalid UTF-8 %FF", get("/items/%FF"), REJECT),
        Case::new("path: NUL %00", get("/items/%00"), REJECT),
        Case::new("path: encoded slash", get("/items/%2F"), REJECT),
        Case::new("path: encoded space", get("/items/%20"), REJECT),
        Case::new("path: 10 KB parameter", get(&format!("/items/{long_param}")), REJECT),
        Case::new("path: empty segment", get("/items/"), REJECT),
        Case::new("path: extra segment", get("/items/1/2"), REJECT),
        // Unknown paths.
        Case::new("unknown: /nope", get("/nope"), REJECT),
        Case::new("unknown: 10 KB path", get(&long_path), REJECT),
        Case::new("unknown: dot segments", get("/../../etc/passwd"), REJECT),
        Case::new("unknown: double slash", get("//items/1"), REJECT),
        Case::new("unknown: asterisk-form", get("*"), REJECT),
        // Wrong methods.
        Case::new("method: DELETE /items/1", request("DELETE", "/items/1", &[], b""), REJECT),
        Case::new("method: PUT /search", request("PUT", "/search?q=a&limit=1", &[], b""), REJECT),
        Case::new("method: GET /items", get("/items"), REJECT),
        Case::new("method: PATCH /items", request("PATCH", "/items", &[], b""), REJECT),
        Case::new("method: POST /metrics", request("POST", "/metrics", &[], b""), REJECT),
        Case::new("method: OPTIONS /items/1", request("OPTIONS", "/items/1", &[], b""), REJECT),
        Case::new("method: extension BREW", request("BREW", "/items/1", &[], b""), REJECT),
        Case::new("method: lowercase get", request("get", "/items/1", &[], b""), REJECT),
        // JSON bodies of POST /items.
        Case::new("json: invalid", post_json(b"{id: 1}"), REJECT),
        Case::new("json: truncated", post_json(br#"{"id": 1"#), REJECT),
        Case::new("json: array", post_json(b"[1,2,3]"), REJECT),
        Case::new("json: null", post_json(b"null"), REJECT),
        Case::new("json: missing id", post_json(br#"{"name":"x"}"#), REJECT),
        Case::new("json: id as string", post_json(br#"{"id":"1"}"#), REJECT),
        Case::new("json: id -1", post_json(br#"{"id": -1}"#), REJECT),
        Case::new("json: id float", post_json(br#"{"id":1.5}"#), REJECT),
        Case::new("json: id u64::MAX + 1", post_json(br#"{"id":18446744073709551616}"#), REJECT),
        Case::new("json: unknown fail", post_json(br#"{"id":1,"fail":"explode"}"#), REJECT),
        Case::new("json: invalid UTF-8", post_json(b"{\"id\":1,\"fail\":\"\xff\xfe\"}"), REJECT),
        Case::new("json: 10000 nested arrays", post_json(deep_json.as_bytes()), REJECT),
        Case::new("json: empty body", post_json(b""), REJECT),
        Case::new("json: no content-type", request("POST", "/items", &[], br#"{"id":1}"#), REJECT),
        Case::new(
            "json: content-type text/plain",
            request("POST", "/items", &[("Content-Type", "text/plain")], br#"{"id":1}"#),
            REJECT,
        ),
        Case::new(
            "json: content-type application/jsonx",
            request("POST", "/items", &[("Content-Type", "application/jsonx")], br#"{"id":1}"#),
            REJECT,
        ),
        Case::new(
            "json: content-type with a bad charset",
            request(
                "POST",
                "/items",
                &[("Content-Type", "application/json; charset=bogus")],
                br#"{"id":1}"#,
            ),
            LENIENT,
        ),
        Case::new("json: 10 MB body", post_json(&big_body), OVERSIZED_BODY),
        Case::new(
            "json: Content-Length 100, 10 bytes sent, then write side closed",
            raw(
                "POST /items HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
                br#"{"id":1}  "#,
            ),
            REJECT,
        )
        .half_close(),
        Case::new(
            "json: invalid chunk size",
            raw(
                "POST /items HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"zz\r\n{\"id\":1}\r\n0\r\n\r\n",
            ),
            REJECT,
        ),
        // Query strings of GET /search?q=<string>&limit=<u32>.
        Case::new("query: none", get("/search"), REJECT),
        Case::new("query: missing limit", get("/search?q=a"), REJECT),
        Case::new("query: missing q", get("/search?limit=1"), REJECT),
        Case::new("query: limit=abc", get("/search?q=a&limit=abc"), REJECT),
        Case::new("query: limit=-1", get("/search?q=a&limit=-1"), REJECT),
        Case::new("query: limit=99999999999", get("/search?q=a&limit=99999999999"), REJECT),
        Case::new("query: limit=1.5", get("/search?q=a&limit=1.5"), REJECT),
        Case::new("query: limit=%FF", get("/search?q=a&limit=%FF"), REJECT),
        Case::new("query: duplicate q", get("/search?q=a&q=b&limit=1"), REJECT),
        Case::new("query: only separators", get("/search?&&&=&="), REJECT),
        Case::new("query: invalid percent-encoding", get("/search?q=%ZZ%&limit=1"), LENIENT),
        Case::new("query: invalid UTF-8", get("/search?q=%FF%FE&limit=1"), LENIENT),
        Case::new("query: 10 KB q", get(&long_query), LENIENT),
        // Headers.
        Case::new(
            "headers: 200 headers",
            raw(&format!("GET /items/1 HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n{many_headers}\r\n"), b""),
            HYPER_DROP,
        ),
        Case::new(
            "headers: one 64 KB header",
            raw(&format!("GET /items/1 HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n{header_64k}\r\n"), b""),
            BIG_HEADER,
        ),
        Case::new(
            "headers: one 1 MB header",
            raw(&format!("GET /items/1 HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n{header_1m}\r\n"), b""),
            HYPER_DROP,
        ),
        Case::new(
            "headers: line without a colon",
            raw("GET /items/1 HTTP/1.1\r\nHost fuzz\r\nConnection: close\r\n\r\n", b""),
            HYPER_REJECT,
        ),
        Case::new(
            "headers: non-ASCII name",
            raw("GET /items/1 HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\nX-\u{e9}: v\r\n\r\n", b""),
            HYPER_REJECT,
        ),
        Case::new(
            "headers: Content-Length not a number",
            raw(
                "POST /items HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n",
                br#"{"id":1}"#,
            ),
            HYPER_REJECT,
        ),
        Case::new(
            "headers: two different Content-Lengths",
            raw(
                "POST /items HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 8\r\nContent-Length: 9\r\n\r\n",
                br#"{"id":1}"#,
            ),
            HYPER_REJECT,
        ),
        // Request lines and bytes that are not HTTP.
        Case::new(
            "line: invalid method token",
            raw("G(T /items/1 HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n", b""),
            HYPER_REJECT,
        ),
        Case::new(
            "line: unknown version HTTP/9.9",
            raw("GET /items/1 HTTP/9.9\r\nHost: fuzz\r\nConnection: close\r\n\r\n", b""),
            HYPER_REJECT,
        ),
        Case::new(
            "line: no version",
            raw("GET /items/1\r\nHost: fuzz\r\nConnection: close\r\n\r\n", b""),
            HYPER_REJECT,
        ),
        Case::new(
            "line: NUL in the path",
            raw("GET /items/\u{0}1 HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n", b""),
            HYPER_REJECT,
        ),
        Case::new(
            "line: 100 KB URI",
            raw(&format!("GET {huge_uri} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n"), b""),
            HYPER_DROP,
        ),
        Case::new("garbage: words", raw("HELLO WORLD\r\n\r\n", b""), HYPER_DROP),
        Case::new(
            "garbage: binary",
            raw("", b"\x00\x01\x02\xff\xfe\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            HYPER_DROP,
        )
        .half_close(),
        Case::new(
            "garbage: HTTP/2 preface",
            raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b""),
            HYPER_DROP,
        )
        .half_close(),
    ]
}

// ---------------------------------------------------------------------------
// Generated cases
// ---------------------------------------------------------------------------

/// xorshift64*: deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Characters a path segment or query value may contain verbatim (RFC 3986
/// unreserved, sub-delims, `:` and `@`), so generated requests are always
/// valid HTTP and reach the router.
const URI_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$'()*+,:@";

/// A random segment: verbatim characters, `%XX` escapes of any byte
/// (including invalid UTF-8), and now and then a long run.
fn segment(rng: &mut Rng) -> String {
    let len = if rng.chance(20) {
        200 + rng.below(2000)
    } else {
        rng.below(12)
    };
    let mut s = String::new();
    for _ in 0..len {
        match rng.below(10) {
            0 => {
                let _ = write!(s, "%{:02X}", rng.below(256));
            }
            1..=3 => s.push(char::from(b'0' + rng.below(10) as u8)),
            _ => s.push(char::from(*rng.pick(URI_CHARS))),
        }
    }
    s
}

fn query(rng: &mut Rng) -> String {
    let keys = ["q", "limit", "Q", "lim", "", "q[]", "limit%00"];
    let mut pairs = Vec::new();
    for _ in 0..rng.below(5) {
        let key = if rng.chance(4) {
            segment(rng)
        } else {
            (*rng.pick(&keys)).to_owned()
        };
        let value = match rng.below(7) {
            0 => rng.below(100).to_string(),
            1 => format!("-{}", rng.below(100)),
            2 => format!("{}{}", u32::MAX, rng.below(100)),
            3 => "%FF".to_owned(),
            4 => String::new(),
            _ => segment(rng),
        };
        pairs.push(if rng.chance(8) {
            key
        } else {
            format!("{key}={value}")
        });
    }
    pairs.join(if rng.chance(5) { ";" } else { "&" })
}

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some("application/vnd.api+json"),
    None,
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

const GENERATED: usize = 300;

/// `GENERATED` requests mutated from valid ones, the same on every run.
fn generated() -> Vec<Case> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases = Vec::with_capacity(GENERATED);
    for i in 0..GENERATED {
        let (group, req) = match rng.below(6) {
            0 => (
                "gen: /items/{random}",
                get(&format!("/items/{}", segment(&mut rng))),
            ),
            1 => {
                let path: String = (0..1 + rng.below(4))
                    .map(|_| format!("/{}", segment(&mut rng)))
                    .collect();
                let method = *rng.pick(METHODS);
                (
                    "gen: random method and path",
                    request(method, &path, &[], b""),
                )
            }
            2 => {
                let body: Vec<u8> = (0..rng.below(256)).map(|_| rng.next() as u8).collect();
                let headers: Vec<(&str, &str)> = (*rng.pick(CONTENT_TYPES))
                    .map(|ct| ("Content-Type", ct))
                    .into_iter()
                    .collect();
                (
                    "gen: POST random bytes",
                    request("POST", "/items", &headers, &body),
                )
            }
            3 => {
                let mut body = if rng.chance(2) {
                    format!(r#"{{"id":{},"fail":"error"}}"#, rng.next()).into_bytes()
                } else {
                    format!(r#"{{"id":{}}}"#, rng.below(1000)).into_bytes()
                };
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(body.len() + 1);
                    match rng.below(4) {
                        0 if at < body.len() => body[at] = rng.next() as u8,
                        1 => body.insert(at, rng.next() as u8),
                        2 if at < body.len() => {
                            body.remove(at);
                        }
                        _ => body.truncate(at),
                    }
                }
                ("gen: POST mutated JSON", post_json(&body))
            }
            4 => (
                "gen: /search?{random}",
                get(&format!("/search?{}", query(&mut rng))),
            ),
            _ => {
                let names: Vec<String> = (0..rng.below(8))
                    .map(|_| {
                        let n: String = (0..1 + rng.below(10))
                            .map(|_| char::from(b'a' + rng.below(26) as u8))
                            .collect();
                        format!("x-{n}")
                    })
                    .collect();
                let values: Vec<String> = names
                    .iter()
                    .map(|_| {
                        (0..rng.below(40))
                            .map(|_| char::from(b' ' + rng.below(95) as u8))
                            .collect::<String>()
                            .trim()
                            .to_owned()
                    })
                    .collect();
                let headers: Vec<(&str, &str)> = names
                    .iter()
                    .zip(&values)
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                // The random headers on a valid request of each route.
                let req = match rng.below(3) {
                    0 => request("GET", &format!("/items/{}", rng.below(100)), &headers, b""),
                    1 => {
                        let target =
                            format!("/search?q={}&limit={}", segment(&mut rng), rng.below(100));
                        request("GET", &target, &headers, b"")
                    }
                    _ => {
                        let mut headers = headers;
                        headers.push(("Content-Type", "application/json"));
                        let body = format!(r#"{{"id":{}}}"#, rng.below(100));
                        request("POST", "/items", &headers, body.as_bytes())
                    }
                };
                ("gen: random headers on valid requests", req)
            }
        };
        cases.push(Case {
            name: format!("generated #{i}"),
            group,
            request: req,
            half_close: false,
            expect: LENIENT,
        });
    }
    cases
}

// ---------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------

/// Why `outcome` is not acceptable for `expect`, if it is not.
fn violation(expect: Expect, outcome: &Outcome) -> Option<String> {
    let res = match outcome {
        Outcome::Response(res) => res,
        Outcome::Dropped(_) if expect.may_drop => return None,
        Outcome::Dropped(why) => return Some(format!("no response: {why}")),
        Outcome::Garbled(what) => return Some(format!("not an HTTP response: {what}")),
    };
    let body = String::from_utf8_lossy(&res.body);
    match res.status {
        s if s >= 500 => return Some(format!("server error {s}: {body}")),
        200..=299 if expect.ok_2xx => return None,
        400..=499 => {}
        s => return Some(format!("unexpected status {s}: {body}")),
    }
    if !expect.routed {
        return None;
    }
    let ct = res.header("content-type").unwrap_or("");
    if !ct.starts_with("application/json") {
        return Some(format!(
            "{} with content-type {ct:?} instead of JSON: {body:?}",
            res.status
        ));
    }
    let json: serde_json::Value = match serde_json::from_slice(&res.body) {
        Ok(v) => v,
        Err(e) => {
            return Some(format!(
                "{} with a body that is not JSON ({e}): {body:?}",
                res.status
            ))
        }
    };
    let error_ok = json.get("error").is_some_and(serde_json::Value::is_string);
    let status_ok =
        json.get("status").and_then(serde_json::Value::as_u64) == Some(res.status.into());
    if error_ok && status_ok {
        None
    } else {
        Some(format!(
            "{} whose JSON body is not {{\"error\": string, \"status\": {}}}: {body}",
            res.status, res.status
        ))
    }
}

/// Counts of one group of cases.
#[derive(Default)]
struct Tally {
    cases: usize,
    s2xx: usize,
    s4xx: usize,
    other: usize,
    dropped: usize,
    write_failed: usize,
}

impl Tally {
    fn add(&mut self, outcome: &Outcome, write_failed: bool) {
        self.cases += 1;
        match outcome {
            Outcome::Response(r) if (200..300).contains(&r.status) => self.s2xx += 1,
            Outcome::Response(r) if (400..500).contains(&r.status) => self.s4xx += 1,
            Outcome::Response(_) | Outcome::Garbled(_) => self.other += 1,
            Outcome::Dropped(_) => self.dropped += 1,
        }
        if write_failed {
            self.write_failed += 1;
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.cases += other.cases;
        self.s2xx += other.s2xx;
        self.s4xx += other.s4xx;
        self.other += other.other;
        self.dropped += other.dropped;
        self.write_failed += other.write_failed;
    }
}

fn short(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Response(r) => {
            let json = r
                .header("content-type")
                .is_some_and(|ct| ct.starts_with("application/json"));
            format!("{}{}", r.status, if json { " json" } else { "" })
        }
        Outcome::Dropped(why) => format!("dropped ({why})"),
        Outcome::Garbled(what) => format!("garbled ({what})"),
    }
}

fn preview(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(&request[..request.len().min(160)]);
    format!("{text:?}{}", if request.len() > 160 { "..." } else { "" })
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_4xx_never_5xx_or_a_crash() {
    let mut worker = Worker::start("fuzz").await;
    let fixed = corpus();
    let fixed_len = fixed.len();
    assert!(fixed_len >= 40, "the corpus has {fixed_len} cases");
    let cases: Vec<Case> = fixed.into_iter().chain(generated()).collect();

    let mut failures = Vec::new();
    let mut groups: Vec<(&'static str, Tally)> = Vec::new();
    println!("fixed corpus:");
    for case in &cases {
        let (outcome, write_failed) = exchange(worker.addr, &case.request, case.half_close).await;
        worker.assert_alive(&format!("case `{}`: {}", case.name, preview(&case.request)));
        if let Some(why) = violation(case.expect, &outcome) {
            failures.push(format!(
                "- {}: {why}\n    request: {}",
                case.name,
                preview(&case.request)
            ));
        }
        if case.group == "corpus" {
            println!(
                "  {:<64} {}{}",
                case.name,
                short(&outcome),
                if write_failed {
                    ", server stopped reading"
                } else {
                    ""
                }
            );
        }
        let group = if case.group == "corpus" {
            "fixed corpus"
        } else {
            case.group
        };
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, t)) => t.add(&outcome, write_failed),
            None => {
                let mut t = Tally::default();
                t.add(&outcome, write_failed);
                groups.push((group, t));
            }
        }
    }
    let mut total = Tally::default();
    println!("by group:");
    for (group, t) in &groups {
        println!(
            "  {group:<34} cases {:>3}  2xx {:>3}  4xx {:>3}  other {}  dropped {}",
            t.cases, t.s2xx, t.s4xx, t.other, t.dropped
        );
        total.merge(t);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases got an unacceptable answer:\n{}\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n"),
        worker.log_tail()
    );

    // Still alive and serving.
    worker.assert_alive("the whole corpus");
    let client = worker_testkit::http_client();
    let res = client
        .get(worker.url("/items/7"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /items/7 after the corpus: {e}\n{}", worker.log_tail()));
    let status = res.status();
    let body = res.text().await.expect("body of GET /items/7");
    assert_eq!(status, 200, "GET /items/7: {body}\n{}", worker.log_tail());
    let json: serde_json::Value = serde_json::from_str(&body).expect("GET /items/7 returns JSON");
    assert_eq!(json, serde_json::json!({ "id": 7 }));

    // No 5xx recorded for any route.
    let res = client
        .get(worker.url("/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}\n{}", worker.log_tail()));
    assert_eq!(res.status(), 200, "GET /metrics");
    let metrics = res.text().await.expect("body of /metrics");
    let lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("worker_http_requests_total{"))
        .collect();
    assert!(
        !lines.is_empty(),
        "no worker_http_requests_total in /metrics:\n{metrics}"
    );
    let server_errors: Vec<&&str> = lines.iter().filter(|l| l.contains("status=\"5")).collect();
    assert!(
        server_errors.is_empty(),
        "5xx recorded in /metrics: {server_errors:#?}\n{}",
        worker.log_tail()
    );
    let client_errors = lines.iter().filter(|l| l.contains("status=\"4")).count();
    assert!(client_errors > 0, "no 4xx recorded in /metrics: {lines:#?}");

    println!(
        "http_fuzz summary: {} cases sent ({fixed_len} fixed, {} generated); responses 2xx {}, 4xx {}, other {}; connections dropped by the server without a response {}; writes cut short by the server {}",
        total.cases,
        cases.len() - fixed_len,
        total.s2xx,
        total.s4xx,
        total.other,
        total.dropped,
        total.write_failed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_block_others() {
    const SLOW: usize = 20;
    const NORMAL: u64 = 50;
    let mut worker = Worker::start("slow").await;

    let mut slow = Vec::with_capacity(SLOW);
    for _ in 0..SLOW {
        let mut s = TcpStream::connect(worker.addr).await.expect("connect");
        s.write_all(b"GET /items/1 HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write a partial request");
        slow.push(s);
    }

    let client = worker_testkit::http_client();
    let requests = (0..NORMAL).map(|i| {
        let client = client.clone();
        let url = worker.url(&format!("/items/{i}"));
        async move {
            // A failure bound, not a measurement.
            let res = client
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = res.status();
            let body = res
                .text()
                .await
                .map_err(|e| format!("GET {url} body: {e}"))?;
            if status != 200 || body != format!(r#"{{"id":{i}}}"#) {
                return Err(format!("GET {url}: {status} {body}"));
            }
            Ok::<(), String>(())
        }
    });
    let results = futures_util::future::join_all(requests).await;
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        errors.is_empty(),
        "{} of {NORMAL} requests failed while {SLOW} clients stalled:\n{}\n{}",
        errors.len(),
        errors.join("\n"),
        worker.log_tail()
    );

    // The stalled connections were open the whole time: nothing to read,
    // not closed.
    let mut still_open = 0;
    for s in &slow {
        let mut buf = [0u8; 64];
        match s.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => still_open += 1,
            other => println!("slow connection: {other:?}"),
        }
    }
    assert_eq!(
        still_open, SLOW,
        "the server closed or answered stalled connections before the normal requests were done"
    );
    worker.assert_alive("the slow clients");

    // SIGTERM with the stalled connections still open: they must not hold
    // the process until the shutdown timeout (30 s, the default).
    let started = Instant::now();
    let term = Command::new("kill")
        .args(["-TERM", &worker.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(term.success(), "kill -TERM");
    let status = loop {
        if let Some(status) = worker.child.try_wait().expect("try_wait") {
            break status;
        }
        // A failure bound, not a measurement.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still running {:?} after SIGTERM with {SLOW} stalled clients\n{}",
            started.elapsed(),
            worker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stopped_in = started.elapsed();
    let log = worker.log_tail();
    assert!(status.success(), "exit status {status}\n{log}");
    assert!(
        !log.contains("after the shutdown timeout"),
        "shutdown waited for the stalled clients\n{log}"
    );
    drop(slow);
    println!(
        "http_fuzz slow clients: {SLOW} stalled connections held open, {NORMAL}/{NORMAL} concurrent requests answered 200; SIGTERM with them open: exit 0 after {stopped_in:?} (shutdown timeout 30 s)"
    );
}
