//! Testing harness: the real [`HttpService`] (and SSE consumers) on an
//! ephemeral port, over the embedded broker of `worker_core::testing`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), worker_core::Error> {
//! use worker_http::test_server::TestServer;
//!
//! let server = TestServer::builder().route("get_item").start().await;
//! let res = reqwest::get(server.url("/items/1")).await?;
//! assert_eq!(res.status(), 200);
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use worker_core::backend::registry::Route;
use worker_core::testing::{TestApp, TestAppBuilder};
use worker_core::{App, Error};

use crate::HttpService;

/// Configures a [`TestServer`].
pub struct TestServerBuilder {
    inner: TestAppBuilder,
    http: Arc<HttpService>,
}

impl std::fmt::Debug for TestServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServerBuilder")
            .field("app", &self.inner)
            .finish_non_exhaustive()
    }
}

impl TestServerBuilder {
    /// Serves only the named route(s); call repeatedly. Without it every
    /// linked route is served.
    pub fn route(mut self, name: &str) -> Self {
        self.inner = self.inner.route(name);
        self
    }

    /// Serves an explicit route record.
    pub fn route_record(mut self, route: &'static Route) -> Self {
        self.inner = self.inner.route_record(route);
        self
    }

    /// Whether to run the linked hooks (default true).
    pub fn hooks(mut self, yes: bool) -> Self {
        self.inner = self.inner.hooks(yes);
        self
    }

    /// Sets a configuration variable (`WORKER_METRICS_PATH`, ...).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.inner = self.inner.env(key, value);
        self
    }

    /// Declares a queue on the test broker before the start (see
    /// [`TestAppBuilder::declare`]).
    pub fn declare(mut self, queue: &str) -> Self {
        self.inner = self.inner.declare(queue);
        self
    }

    /// Whether to write warnings and errors to the test's output (default
    /// true, see [`TestAppBuilder::log`]).
    pub fn log(mut self, yes: bool) -> Self {
        self.inner = self.inner.log(yes);
        self
    }

    /// Applies `layers` to the HTTP routes, as `main!(http_layers = ...)`
    /// does.
    pub fn http_layers(mut self, layers: crate::Layers) -> Self {
        self.http = Arc::new(HttpService::new().with_layers(layers));
        self
    }

    /// Uses this application handle.
    pub fn app(mut self, app: App) -> Self {
        self.inner = self.inner.app(app);
        self
    }

    /// Starts the application and waits until the server listens.
    /// Panics if it does not start.
    pub async fn start(self) -> TestServer {
        #[allow(unused_mut)]
        let mut inner = self
            .inner
            .env("WORKER_HTTP_ADDR", "127.0.0.1:0")
            .service(self.http.clone());
        #[cfg(feature = "sse")]
        {
            inner = inner.service(Arc::new(crate::sse::SseService::new()));
        }
        let app = inner.start().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let addr = loop {
            if let Some(addr) = self.http.local_addr() {
                break addr;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the http server did not start within 10s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        TestServer { app, addr }
    }
}

/// A running application with its HTTP server on `127.0.0.1:<ephemeral>`.
/// Derefs to the [`TestApp`] (embedded broker, stats, publishing).
pub struct TestServer {
    app: TestApp,
    addr: SocketAddr,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("app", &self.app)
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestServer {
    /// A builder serving every linked route unless narrowed with `route`.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            inner: TestApp::builder(),
            http: Arc::new(HttpService::new()),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Shuts the application down gracefully and returns its result.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.app.shutdown().await
    }
}

impl Deref for TestServer {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}
