//! `App`, `State<T>` and `Publisher` as axum extractors (feature `http`).
//!
//! HTTP routes are served by a `Router<App>`, so handlers take the same
//! arguments as batch handlers: `State(db): State<Db>` reads the value an
//! `#[on_startup]` hook inserted with `app.insert(db)`. A missing value is a
//! programming error, not a client's: the request fails with `500` and a JSON
//! body naming the type, and the error is logged.
//!
//! Why this lives here and not in `worker-http`: the orphan rule. An impl
//! of axum's `FromRequestParts` (a foreign trait) for `App`, `State<T>` and
//! `Publisher` must be written in the crate that owns those types, so the
//! `http` feature of this crate pulls in only `axum-core` and `http` for it.

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderValue, StatusCode};

use super::{App, Publisher, State};
use crate::Error;

/// The rejection of [`State<T>`] and [`Publisher`] when the application
/// does not provide them: `500 Internal Server Error` with
/// `{"error": "...", "status": 500}`.
#[derive(Debug, Clone)]
pub struct MissingState {
    message: String,
}

impl MissingState {
    /// What is missing and how to provide it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for MissingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl IntoResponse for MissingState {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.message, "http handler argument unavailable");
        json_error(StatusCode::INTERNAL_SERVER_ERROR, &self.message)
    }
}

/// `{"error": message, "status": status}` with `status`: the shape of every
/// error response of the HTTP server.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message, "status": status.as_u16() });
    let mut res = body.to_string().into_response();
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// An error returned by an `http` handler (`Result<T, worker::Error>`, so
/// `?` works on any error): the status chosen with [`Error::http`] and the
/// error's message; without one, `500` with `"internal server error"`,
/// the error itself going to the log and not to the client.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self.status().map(StatusCode::from_u16) {
            Some(Ok(status)) => {
                if status.is_server_error() {
                    tracing::error!(
                        error = format!("{self:#}"),
                        status = status.as_u16(),
                        "http handler failed"
                    );
                }
                json_error(status, &self.to_string())
            }
            chosen => {
                if let Some(Err(_)) = chosen {
                    tracing::warn!(status = ?self.status(), "invalid HTTP status in a worker::Error; answering 500");
                }
                tracing::error!(error = format!("{self:#}"), "http handler failed");
                json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
        }
    }
}

impl FromRequestParts<App> for App {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(app.clone())
    }
}

impl<T: Send + Sync + 'static> FromRequestParts<App> for State<T> {
    type Rejection = MissingState;

    async fn from_request_parts(_parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        app.try_get::<T>().map(State).map_err(|e| MissingState {
            message: e.to_string(),
        })
    }
}

impl FromRequestParts<App> for Publisher {
    type Rejection = MissingState;

    async fn from_request_parts(_parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        app.publisher().map_err(|e| MissingState {
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Parts {
        http::Request::new(()).into_parts().0
    }

    #[tokio::test]
    async fn state_is_read_from_the_app() {
        let app = App::new();
        app.insert(41u32);
        let State(n) = State::<u32>::from_request_parts(&mut parts(), &app)
            .await
            .unwrap();
        assert_eq!(*n, 41);
        let same = App::from_request_parts(&mut parts(), &app).await.unwrap();
        assert_eq!(*same.get::<u32>().unwrap(), 41);
    }

    async fn body(res: Response) -> serde_json::Value {
        use http_body_util::BodyExt as _;
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn an_error_is_a_json_answer_with_its_chosen_status() {
        let res = Error::http(404, "no order 7").into_response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            body(res).await,
            serde_json::json!({ "error": "no order 7", "status": 404 })
        );
        let res = Error::msg("db password rejected").into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body(res).await,
            serde_json::json!({ "error": "internal server error", "status": 500 })
        );
        let res = Error::msg("x")
            .with_status(StatusCode::CONFLICT)
            .into_response();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let res = Error::http(42, "not a status").into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn missing_state_is_a_500_naming_the_type() {
        let app = App::new();
        let rejection = match State::<String>::from_request_parts(&mut parts(), &app).await {
            Ok(_) => panic!("no String was inserted"),
            Err(r) => r,
        };
        assert!(
            rejection.message().contains("alloc::string::String"),
            "{rejection}"
        );
        let res = rejection.into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        assert!(Publisher::from_request_parts(&mut parts(), &app)
            .await
            .is_err());
    }
}
