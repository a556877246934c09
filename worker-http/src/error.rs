//! The JSON error shape of every error response, and the rewrite that
//! turns axum's plain-text rejections into it.
//!
//! axum's extractors reject malformed input (bad path parameter, invalid
//! JSON, bad query string, wrong content type) with a 4xx and a `text/plain`
//! body; its router answers 405 with an empty body. Rather than wrapping
//! every extractor in a look-alike type, the per-path guard
//! ([`crate::guard`]) rewrites error responses whose body is empty or
//! `text/plain` into `{"error": "<the text>", "status": <code>}`: it covers every extractor,
//! axum's own and third-party ones, while users keep writing plain axum.
//! Responses that already have another content type (JSON, HTML...) pass
//! unchanged, and so does every success response, at the cost of one header
//! look-up.

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// Largest plain-text error body that is rewritten (rejections are short).
const MAX_REWRITE: u64 = 16 * 1024;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a human.
    pub error: String,
    /// The HTTP status code.
    pub status: u16,
}

/// A JSON error response: `{"error": message, "status": status}` (the
/// same as a `worker::Error` returned by a handler).
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    worker_core::backend::app::json_error(status, &message.into())
}

/// The default message of a status without a body: `method not allowed`.
fn reason(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
}

/// Whether `res` is an error response with an empty or short `text/plain`
/// body, which [`rewrite`] turns into [`ErrorBody`] JSON.
pub(crate) fn needs_rewrite(res: &Response) -> bool {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    let plain = match res.headers().get(CONTENT_TYPE) {
        None => true,
        Some(v) => v.as_bytes().starts_with(b"text/plain"),
    };
    plain
        && res
            .body()
            .size_hint()
            .upper()
            .is_some_and(|n| n <= MAX_REWRITE)
}

/// Rewrites an error response selected by [`needs_rewrite`] as
/// [`ErrorBody`] JSON, keeping its status and other headers.
pub(crate) async fn rewrite(res: Response) -> Response {
    let status = res.status();
    let (mut parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REWRITE as usize).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        reason(status)
    } else {
        text
    };
    let json = serde_json::to_vec(&ErrorBody {
        error: message,
        status: status.as_u16(),
    })
    .unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_lowercase() {
        assert_eq!(reason(StatusCode::METHOD_NOT_ALLOWED), "method not allowed");
    }

    #[tokio::test]
    async fn error_response_is_json() {
        let res = error_response(StatusCode::BAD_REQUEST, "nope");
        assert_eq!(res.status(), 400);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        let bytes = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            ErrorBody {
                error: "nope".into(),
                status: 400
            }
        );
    }
}
