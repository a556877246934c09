//! Helpers shared by the framework's own test suites (`worker-rabbitmq`'s,
//! `worker-http`'s, the facade's and the reliability suite), so that each
//! is written once: the local RabbitMQ started by `scripts/rabbitmq`, a
//! bounded wait, and reading HTTP answers and metrics. Not published.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cron;
pub mod failures;
mod logs;
mod runtime;
pub mod sse;

pub use logs::Logs;
pub use runtime::{registered, runtime};

use std::collections::BTreeMap;
use std::future::Future;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The broker the integration tests use: `WORKER_TEST_AMQP_URL`, else the
/// node `scripts/rabbitmq start` runs.
pub fn amqp_url() -> String {
    std::env::var("WORKER_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The project's broker script, which runs `rabbitmqctl` of the test
/// broker's version (`RABBITMQ_VERSION`, default 4.3) inside its chroot.
pub const RABBITMQ_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/rabbitmq");

/// `rabbitmqctl args...` against the test node (`scripts/rabbitmq ctl`, of
/// the version in `RABBITMQ_VERSION`), as it ran.
pub fn rabbitmqctl_output(args: &[&str]) -> Output {
    Command::new(RABBITMQ_SCRIPT)
        .arg("ctl")
        .args(args)
        .output()
        .expect("run scripts/rabbitmq ctl (the broker is started by `scripts/rabbitmq start`)")
}

/// `rabbitmqctl args...`: its standard output; panics when it fails.
pub fn rabbitmqctl(args: &[&str]) -> String {
    succeeded(args, rabbitmqctl_output(args))
}

/// The standard output of a `rabbitmqctl args...` run; panics with its
/// output when it failed.
fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a Python script with the interop peers' interpreter
/// (`.venv-peers`, which `scripts/test` creates with pika; or
/// `WORKER_TEST_PYTHON`), and panics with its stderr if it fails.
pub fn python_peer(script: &str) {
    let python = std::env::var("WORKER_TEST_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv-peers/bin/python").to_owned()
    });
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python} (scripts/test creates .venv-peers with pika): {e}")
        });
    assert!(
        out.status.success(),
        "the Python peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `rabbitmqctl args...` with `input` on its standard input (a file
/// argument would have to exist inside a 4.x chroot): its standard output;
/// panics when it fails.
pub fn rabbitmqctl_stdin(args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new(RABBITMQ_SCRIPT)
        .arg("ctl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run scripts/rabbitmq ctl");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write rabbitmqctl's input");
    succeeded(
        args,
        child.wait_with_output().expect("wait for rabbitmqctl"),
    )
}

/// Polls `done` every 10 ms until it holds; panics with `what` after
/// `limit`. A failure bound, not a measurement.
pub async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Like [`wait_until`], for a condition that must be awaited.
pub async fn wait_until_async<F: Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An HTTP client for the tests. The framework's `sse` feature builds
/// reqwest with `rustls-no-provider`, which, unified over the test program,
/// needs a process-wide rustls provider before any client is built: the
/// framework installs one when it makes its HTTP service, and this does
/// for tests that build a client without one.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn get(c: &reqwest::Client, url: &str) -> reqwest::Response {
    c.get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// `GET url`, decoded as JSON; panics on a transport or decoding error.
pub async fn get_json<T: serde::de::DeserializeOwned>(c: &reqwest::Client, url: &str) -> T {
    let res = get(c, url).await;
    res.json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: body is not the expected JSON: {e}"))
}

/// `GET url`, as text; panics on a transport error.
pub async fn get_text(c: &reqwest::Client, url: &str) -> String {
    let res = get(c, url).await;
    res.text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Waits (up to 10 s) until the server at `url` answers; its first answer.
pub async fn wait_for_server(c: &reqwest::Client, url: &str) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.get(url).send().await {
            Ok(r) => return r,
            Err(e) => {
                assert!(Instant::now() < deadline, "server not up at {url}: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// `name{labels}` -> value, from a Prometheus/OpenMetrics text exposition
/// (which must end with `# EOF`).
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse::<f64>().expect(l))
        })
        .collect()
}

/// Resident set size of process `pid` in KiB (`VmRSS` of `/proc`), 0 when
/// unknown.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A TCP forwarder from `listen` to `target`, opened after `delay`: before
/// then nothing listens on `listen` (connections are refused), as for a
/// broker that comes up late. Runs until the returned task is aborted.
pub fn late_tcp_proxy(
    listen: std::net::SocketAddr,
    target: std::net::SocketAddr,
    delay: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .unwrap_or_else(|e| panic!("listen on {listen}: {e}"));
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

/// Reads `tcp` until the server closes it (failure bound: 10 s, then a
/// panic naming `what`) and returns what the server sent.
pub async fn read_until_closed(tcp: &mut tokio::net::TcpStream, what: &str) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "{what}: the server kept the connection open");
    got
}

/// A loopback address with a port nothing listens on now.
pub fn free_local_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("its address")
}
