//! Opening a stream: the `GET` with `Accept: text/event-stream`, the
//! connection's headers and `Last-Event-ID`, the checks of the answer, and
//! the reason a connect failed (a refused redirect told apart, to be
//! counted). Shared by the consumer and `check`'s probe.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, CACHE_CONTROL, CONTENT_TYPE};

use super::parser::sendable_id;
use super::redirect::RedirectRefused;

/// Why a stream could not be opened.
#[derive(Debug)]
pub(crate) struct OpenError {
    /// What went wrong, for the log.
    pub message: String,
    /// Whether a redirect was refused (`redirect.rs`).
    pub redirect: bool,
}

impl OpenError {
    fn new(message: impl Into<String>) -> Self {
        OpenError {
            message: message.into(),
            redirect: false,
        }
    }

    /// The error of a failed send: a refused redirect says why.
    fn of_send(e: reqwest::Error) -> Self {
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            if let Some(refused) = c.downcast_ref::<RedirectRefused>() {
                return OpenError {
                    message: refused.to_string(),
                    redirect: true,
                };
            }
            cause = c.source();
        }
        OpenError::new(format!("cannot connect: {}", e.without_url()))
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `f`, unless `limit` passes first (`None`).
pub(crate) async fn within<F: Future>(limit: Option<Duration>, f: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, f).await.ok(),
        None => Some(f.await),
    }
}

/// `GET url` as an event stream (with `Last-Event-ID` when resuming): the
/// response if it is a success with `Content-Type: text/event-stream`,
/// else why not. The consumer's connect and `check`'s probe.
pub(crate) async fn open_stream(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    last_id: Option<&str>,
) -> Result<reqwest::Response, OpenError> {
    let mut req = client
        .get(url)
        .headers(headers.clone())
        .header(ACCEPT, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache");
    // A stored resume point is read back from the broker: send only an
    // id that can be sent.
    if let Some(id) = last_id.filter(|id| sendable_id(id)) {
        req = req.header("Last-Event-ID", id);
    }
    let res = req.send().await.map_err(OpenError::of_send)?;
    if !res.status().is_success() {
        return Err(OpenError::new(format!(
            "the server answered {}",
            res.status()
        )));
    }
    let is_stream = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    if !is_stream {
        return Err(OpenError::new("the response is not `text/event-stream`"));
    }
    Ok(res)
}
