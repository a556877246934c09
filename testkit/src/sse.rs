//! A real Server-Sent-Events server for the SSE tests: plain HTTP/1.1 over
//! TCP, `total` events `id: i` / `data: {"n": i}` numbered from 1, resuming
//! after the client's `Last-Event-ID`, and closing the connection every
//! `per_connection` events (the client must reconnect and resume). Once
//! every event is sent it keeps the connection open.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running event source.
#[derive(Debug, Clone)]
pub struct EventSource {
    /// `http://127.0.0.1:<port>/events`.
    pub url: String,
    /// The `Last-Event-ID` of each request, in order (`None`: none sent).
    pub last_ids: Arc<Mutex<Vec<Option<String>>>>,
}

impl EventSource {
    /// Starts serving; `pace` is the pause between two events.
    pub async fn start(total: u32, per_connection: u32, pace: Duration) -> EventSource {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let last_ids = Arc::new(Mutex::new(Vec::new()));
        let seen = last_ids.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(serve(tcp, seen, total, per_connection, pace));
            }
        });
        EventSource { url, last_ids }
    }

    /// The requests served so far.
    pub fn connections(&self) -> usize {
        self.last_ids.lock().unwrap().len()
    }
}

async fn serve(
    mut tcp: tokio::net::TcpStream,
    seen: Arc<Mutex<Vec<Option<String>>>>,
    total: u32,
    per_connection: u32,
    pace: Duration,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let last = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("last-event-id")
            .then(|| value.trim().to_owned())
    });
    seen.lock().unwrap().push(last.clone());
    let start: u32 = last.and_then(|l| l.parse().ok()).unwrap_or(0);
    let response = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n: hello\nretry: 20\n\n";
    if tcp.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let end = start.saturating_add(per_connection).min(total);
    for i in start + 1..=end {
        let event = format!("id: {i}\nevent: tick\ndata: {{\"n\": {i}}}\n\n");
        if tcp.write_all(event.as_bytes()).await.is_err() {
            return;
        }
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
    if end == total {
        // Everything sent: the stream stays open (and idle).
        std::future::pending::<()>().await;
    }
}
