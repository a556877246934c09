//! The bounds of an SSE connection, against a real HTTP server on
//! 127.0.0.1 that misbehaves on purpose: a line without end, an event
//! without end, a stream that stalls, one that only sends heartbeats, and
//! redirects within and out of the stream's origin.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use worker_core::backend::metrics::StreamError;
use worker_core::State;
use worker_http::sse::Event;
use worker_http::test_server::TestServer;
use worker_macros::route;
use worker_testkit::{get_text, wait_until};

/// The most a test server writes on one connection: what a consumer
/// without bounds would hold, kept small enough for the test to survive.
const CAP: usize = 64 << 20;

/// What the server sends on a connection after the response head.
#[derive(Clone)]
enum Script {
    /// `data: ` and then `x` without a line ending, up to [`CAP`].
    EndlessLine,
    /// `data:` lines without the blank line that ends an event, up to [`CAP`].
    EndlessEvent,
    /// One event (`id: 1`), then nothing, the connection kept open.
    OneEventThenStall,
    /// One event (`id: 1`), then a comment every 200 ms.
    Heartbeats,
    /// `307` to another URL.
    RedirectTo(String),
}

/// One request the server received: its path and headers (names lowercased).
#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A test server: `/moved` redirects to `/events` (same origin), any
/// other path runs the script.
#[derive(Clone)]
struct Source {
    base: String,
    requests: Arc<Mutex<Vec<Request>>>,
    /// Connections the client closed while the server was still writing.
    closed_by_client: Arc<AtomicUsize>,
}

impl Source {
    async fn start(script: Script) -> Source {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let source = Source {
            base: format!("http://{}", listener.local_addr().unwrap()),
            requests: Arc::default(),
            closed_by_client: Arc::default(),
        };
        let me = source.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(me.clone().serve(tcp, script.clone()));
            }
        });
        source
    }

    fn url(&self) -> String {
        format!("{}/events", self.base)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    async fn serve(self, mut tcp: TcpStream, script: Script) {
        let Some(request) = read_head(&mut tcp).await else {
            return;
        };
        let path = request.path.clone();
        self.requests.lock().unwrap().push(request);
        if path == "/moved" {
            let _ = tcp.write_all(&redirect("/events")).await;
            return;
        }
        if let Script::RedirectTo(location) = &script {
            let _ = tcp.write_all(&redirect(location)).await;
            return;
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
        if tcp.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        if self.run(&mut tcp, script).await.is_err() {
            self.closed_by_client.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The script's body; an error when the client closed the connection.
    async fn run(&self, tcp: &mut TcpStream, script: Script) -> std::io::Result<()> {
        let piece = match script {
            Script::EndlessLine => {
                tcp.write_all(b"data: ").await?;
                vec![b'x'; 64 * 1024]
            }
            Script::EndlessEvent => b"data: "
                .iter()
                .chain(&[b'y'; 1000])
                .chain(b"\n")
                .copied()
                .collect(),
            Script::OneEventThenStall | Script::Heartbeats => {
                tcp.write_all(b"id: 1\ndata: one\n\n").await?;
                Vec::new()
            }
            Script::RedirectTo(_) => unreachable!("answered in `serve`"),
        };
        if let Script::Heartbeats = script {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                tcp.write_all(b": ping\n").await?;
            }
        }
        let mut sent = 0;
        while !piece.is_empty() && sent < CAP {
            tcp.write_all(&piece).await?;
            sent += piece.len();
        }
        // Silence, the connection open, until the client closes it.
        let mut buf = [0u8; 64];
        while tcp.read(&mut buf).await? > 0 {}
        Err(std::io::ErrorKind::ConnectionAborted.into())
    }
}

fn redirect(location: &str) -> Vec<u8> {
    format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").into_bytes()
}

async fn read_head(tcp: &mut TcpStream) -> Option<Request> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.lines();
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Request { path, headers })
}

type Seen = Mutex<Vec<String>>;

/// A route `$name` on the `feed` connection, whose url the test sets
/// (`WORKER_SSE_FEED_URL`); it keeps the data of the events it gets.
macro_rules! feed_route {
    ($name:ident) => {
        #[route(
            sse,
            crate = "worker_http",
            url = "http://127.0.0.1:9/unused",
            connection = "feed",
            bulk_size = 1,
            bulk_flush_interval = "10ms"
        )]
        async fn $name(events: Vec<Event<String>>, State(seen): State<Seen>) {
            seen.lock()
                .unwrap()
                .extend(events.into_iter().map(|e| e.data));
        }
    };
}

feed_route! { endless_line }
feed_route! { endless_event }
feed_route! { stalled }
feed_route! { heartbeats }
feed_route! { cross_origin }
feed_route! { same_origin }

/// Runs `route` against `url` with the connection's `vars` (`WORKER_SSE_FEED_URL` set).
async fn consume(route: &str, url: &str, vars: &[(&str, &str)]) -> (TestServer, worker_core::App) {
    let app = worker_core::App::new();
    app.insert(Seen::default());
    let mut b = TestServer::builder()
        .app(app.clone())
        .hooks(false)
        .route(route)
        .env("WORKER_SSE_FEED_URL", url);
    for (k, v) in vars {
        b = b.env(k, v);
    }
    (b.start().await, app)
}

const LIMIT: Duration = Duration::from_secs(20);

/// A line that never ends: the consumer stops reading it at the line
/// limit, drops the connection (the server's writes fail long before the
/// 64 MiB it would send), says why naming the variable, counts it, and
/// reconnects.
#[tokio::test]
async fn a_line_past_the_limit_drops_the_connection_and_reconnects() {
    let logs = worker_testkit::Logs::capture();
    let src = Source::start(Script::EndlessLine).await;
    let (s, _app) = consume(
        "endless_line",
        &src.url(),
        &[("WORKER_SSE_MAX_LINE", "65536")],
    )
    .await;
    wait_until("a second connection", LIMIT, || src.requests().len() >= 2).await;
    let stats = s.stats().route("endless_line", "sse");
    wait_until("the drop counted", LIMIT, || {
        stats.stream_errors(StreamError::LineTooLong) >= 1
    })
    .await;
    assert!(src.closed_by_client.load(Ordering::SeqCst) >= 1);
    let metrics = get_text(&reqwest::Client::new(), &s.url("/metrics")).await;
    s.shutdown().await.unwrap();
    assert!(
        metrics.contains(
            "worker_sse_stream_errors_total{route=\"endless_line\",reason=\"line_too_long\"}"
        ),
        "{metrics}"
    );
    let warned = logs.matching("WARN", "WORKER_SSE_MAX_LINE");
    assert!(!warned.is_empty(), "{:?}", logs.lines());
    assert!(
        warned[0].contains("65536 bytes") && warned[0].contains("reconnecting"),
        "{warned:?}"
    );
}

/// `data:` lines that never end their event: dropped at the event limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_past_the_limit_drops_the_connection_and_reconnects() {
    let src = Source::start(Script::EndlessEvent).await;
    let (s, app) = consume(
        "endless_event",
        &src.url(),
        &[("WORKER_SSE_MAX_EVENT", "65536")],
    )
    .await;
    wait_until("a second connection", LIMIT, || src.requests().len() >= 2).await;
    let stats = s.stats().route("endless_event", "sse");
    wait_until("the drop counted", LIMIT, || {
        stats.stream_errors(StreamError::EventTooLarge) >= 1
    })
    .await;
    assert!(src.closed_by_client.load(Ordering::SeqCst) >= 1);
    assert_eq!(stats.stream_errors(StreamError::LineTooLong), 0);
    assert!(app.get::<Seen>().unwrap().lock().unwrap().is_empty());
    s.shutdown().await.unwrap();
}

/// A stream that stalls after one event is reconnected after the idle
/// timeout, resuming after that event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_is_reconnected_after_the_idle_timeout() {
    let src = Source::start(Script::OneEventThenStall).await;
    let (s, app) = consume("stalled", &src.url(), &[("WORKER_SSE_IDLE_TIMEOUT", "1s")]).await;
    wait_until("a second connection", LIMIT, || src.requests().len() >= 2).await;
    let requests = src.requests();
    assert_eq!(requests[0].header("last-event-id"), None);
    assert_eq!(requests[1].header("last-event-id"), Some("1"));
    let stats = s.stats().route("stalled", "sse");
    assert!(stats.stream_errors(StreamError::IdleTimeout) >= 1);
    let seen = app.get::<Seen>().unwrap();
    wait_until("the event handled", LIMIT, || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(seen.lock().unwrap()[0], "one");
    s.shutdown().await.unwrap();
}

/// Heartbeat comments every 200 ms keep a stream with a 1 s idle timeout
/// connected: three timeouts pass without a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_comments_keep_the_stream_past_the_idle_timeout() {
    let src = Source::start(Script::Heartbeats).await;
    let (s, app) = consume(
        "heartbeats",
        &src.url(),
        &[("WORKER_SSE_IDLE_TIMEOUT", "1s")],
    )
    .await;
    let seen = app.get::<Seen>().unwrap();
    wait_until("the event handled", LIMIT, || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = s.stats().route("heartbeats", "sse");
    assert_eq!(src.requests().len(), 1, "{:?}", src.requests());
    assert_eq!(stats.stream_errors(StreamError::IdleTimeout), 0);
    assert!(stats.is_ready());
    s.shutdown().await.unwrap();
}

/// A redirect to another origin (another port of 127.0.0.1) is refused:
/// the configured header never reaches the other server, and the consumer
/// retries with backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_is_refused_and_leaks_no_header() {
    let other = Source::start(Script::Heartbeats).await;
    let src = Source::start(Script::RedirectTo(other.url())).await;
    let (s, _app) = consume(
        "cross_origin",
        &src.url(),
        &[("WORKER_SSE_FEED_HEADERS", "X-Api-Key: k3y")],
    )
    .await;
    wait_until("a retry or a request elsewhere", LIMIT, || {
        src.requests().len() >= 2 || !other.requests().is_empty()
    })
    .await;
    let leaked: Vec<Request> = other.requests();
    assert!(
        leaked.iter().all(|r| r.header("x-api-key").is_none()),
        "the header reached another origin: {leaked:?}"
    );
    assert!(leaked.is_empty(), "{leaked:?}");
    assert_eq!(src.requests()[0].header("x-api-key"), Some("k3y"));
    let stats = s.stats().route("cross_origin", "sse");
    wait_until("the refusal counted", LIMIT, || {
        stats.stream_errors(StreamError::RedirectRefused) >= 2
    })
    .await;
    assert!(!stats.is_ready());
    s.shutdown().await.unwrap();
}

/// A redirect within the stream's origin is followed, the configured
/// header kept and no `Referer` sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_origin_redirect_is_followed_without_referer() {
    let src = Source::start(Script::Heartbeats).await;
    let url = format!("{}/moved", src.base);
    let (s, app) = consume(
        "same_origin",
        &url,
        &[("WORKER_SSE_FEED_HEADERS", "X-Api-Key: k3y")],
    )
    .await;
    let seen = app.get::<Seen>().unwrap();
    wait_until("the event handled", LIMIT, || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let requests = src.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/moved", "/events"]);
    assert_eq!(requests[1].header("x-api-key"), Some("k3y"));
    assert_eq!(requests[1].header("referer"), None, "{requests:?}");
    let stats = s.stats().route("same_origin", "sse");
    assert_eq!(stats.stream_errors(StreamError::RedirectRefused), 0);
    s.shutdown().await.unwrap();
}
