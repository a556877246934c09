//! The Server-Sent-Events consumer (`#[route(sse, url = "...")]`).
//!
//! Each `sse` route keeps one connection to its stream: it sends
//! `Accept: text/event-stream`, the connection's configured headers
//! (`WORKER_SSE_<NAME>_HEADERS="Name: value; Name2: value2"`) and, after a
//! reconnect, `Last-Event-ID`. Events are filtered by name (`events = [..]`),
//! decoded (JSON, or plain text for `Event<String>`), and handed to the
//! handler in batches of `bulk_size`, or earlier when `bulk_flush_interval`
//! has passed since the first event of a partial batch. A lost stream is
//! reconnected with capped exponential backoff and jitter; the server's
//! `retry:` becomes the backoff's base delay. The route is ready while
//! connected. At shutdown the partial batch is handed to the handler.
//!
//! Each connection is bounded ([`SseLimits`](crate::config::SseLimits)):
//! a line longer than `WORKER_SSE_MAX_LINE`, an event larger than
//! `WORKER_SSE_MAX_EVENT` or a silence longer than
//! `WORKER_SSE_IDLE_TIMEOUT` drops it, and it is reconnected. Redirects
//! are followed only within the stream's origin (`redirect.rs`).

pub(crate) mod adapter;
mod batches;
mod connect;
mod consumer;
pub mod parser;
mod redirect;
mod resume;
pub(crate) mod route;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use worker_core::backend::config::parse::read_pem;
use worker_core::backend::config::{Config, ConfigError, Variable, TLS_CA_FILE};
use worker_core::backend::future::BoxFuture;
use worker_core::backend::registry::Route;
use worker_core::backend::runtime::{ConnectionKey, Probe, Service, ServiceContext};
use worker_core::Error;

pub use adapter::{erase_sse, Event, SseBatch, SseHandler};
pub use resume::resume_queue;

use adapter::ErasedSse;
use consumer::{DeadLetter, SseConsumer};
use route::SseOptions;

use crate::config::{SseConfig, SSE_VARIABLES};

/// Longest delay between reconnect attempts.
const RECONNECT_CAP: Duration = Duration::from_secs(30);

/// Runs the consumers of the application's `sse` routes.
#[derive(Debug, Default)]
pub struct SseService {
    reconnect_base: Option<Duration>,
}

impl SseService {
    /// The service, reconnecting after 100 ms at first.
    pub fn new() -> Self {
        crate::tls_provider::install();
        Self::default()
    }

    /// Sets the first reconnect delay (before the server sends `retry:`).
    pub fn reconnect_base(mut self, delay: Duration) -> Self {
        self.reconnect_base = Some(delay);
        self
    }

    /// The consumer of one route, with its connection's URL and headers.
    fn consumer(
        &self,
        ctx: &ServiceContext,
        config: &SseConfig,
        route: &'static Route,
        options: &SseOptions,
        handler: ErasedSse,
        client: reqwest::Client,
    ) -> Result<SseConsumer, Error> {
        let url = effective_url(config, options);
        let broker = options.broker.unwrap_or("default");
        Ok(SseConsumer {
            name: route.name,
            url: Arc::from(url),
            shown: Arc::from(worker_core::rules::url::mask_url(url)),
            events: options.events,
            bulk_size: usize::from(options.bulk_size),
            bulk_flush_interval: options
                .bulk_flush_interval
                .unwrap_or(ctx.config.bulk_flush_interval),
            timeout: options.timeout,
            bisect: options.bisect,
            handler,
            app: ctx.app.clone(),
            stats: ctx.stats.route(route.name, "sse"),
            shutdown: ctx.shutdown.clone(),
            client,
            headers: headers(config, route.name, options.connection)?,
            limits: config.limits,
            reconnect_base: self.reconnect_base.unwrap_or(Duration::from_millis(100)),
            reconnect_cap: RECONNECT_CAP,
            max_retries: options.max_retries,
            retry_backoff: options.retry_backoff_or_default(),
            dead_letter: match options.dead_letter {
                Some(queue) => Some(DeadLetter {
                    queue,
                    publisher: ctx.app.publisher_for(broker)?,
                }),
                None => None,
            },
            resume: options
                .resume
                .then(|| {
                    let key = ConnectionKey::named(broker);
                    ctx.connections
                        .iter()
                        .find(|(k, _)| *k == key)
                        .and_then(|(_, c)| c.coordination())
                        .map(|c| c.record(resume::resume_queue(route.name)))
                })
                .flatten(),
        })
    }
}

/// The headers of a route's connection (`WORKER_SSE_<NAME>_HEADERS`). A
/// named connection without any configuration is allowed, with a warning:
/// unlike an amqp connection, the route still has its URL.
fn headers(config: &SseConfig, route: &str, connection: Option<&str>) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    let Some(name) = connection else {
        return Ok(map);
    };
    let key = name.to_ascii_lowercase();
    let var = format!("WORKER_SSE_{}_HEADERS", name.to_ascii_uppercase());
    let Some(configured) = config.headers.get(&key) else {
        if !config.urls.contains_key(&key) {
            tracing::info!(
                route,
                connection = name,
                "neither `{var}` nor `WORKER_SSE_{}_URL` is set: connecting to the route's url without extra headers",
                name.to_ascii_uppercase()
            );
        }
        return Ok(map);
    };
    for (k, v) in &configured.0 {
        let k = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| Error::msg(format!("invalid `{var}`: bad header name `{k}`")))?;
        let mut v = HeaderValue::from_str(v)
            .map_err(|_| Error::msg(format!("invalid `{var}`: bad value of header `{k}`")))?;
        v.set_sensitive(true);
        map.append(k, v);
    }
    Ok(map)
}

/// How long `check` waits for a stream's answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to a route's stream, expects `200` and `text/event-stream`,
/// and closes.
async fn probe_route(
    client: &reqwest::Client,
    config: &SseConfig,
    route: &Route,
    options: &SseOptions,
) -> Probe {
    let url = effective_url(config, options);
    let shown = worker_core::rules::url::mask_url(url);
    let name = route.name;
    let headers = match headers(config, name, options.connection) {
        Ok(h) => h,
        Err(e) => {
            return Probe {
                ok: false,
                line: format!("sse route `{name}`: {e}"),
            }
        }
    };
    let answer = tokio::time::timeout(
        PROBE_TIMEOUT,
        connect::open_stream(client, url, &headers, None),
    )
    .await;
    match answer {
        Ok(Ok(res)) => Probe {
            ok: true,
            line: format!(
                "sse route `{name}`: stream `{shown}` answers {} text/event-stream",
                res.status().as_u16()
            ),
        },
        Ok(Err(why)) => Probe {
            ok: false,
            line: format!("sse route `{name}`: stream `{shown}`: {why}"),
        },
        Err(_) => Probe {
            ok: false,
            line: format!(
                "sse route `{name}`: stream `{shown}`: no answer within {PROBE_TIMEOUT:?}"
            ),
        },
    }
}

/// The stream's URL: the route's, or its connection's `WORKER_SSE_<NAME>_URL`.
fn effective_url<'a>(config: &'a SseConfig, options: &'a SseOptions) -> &'a str {
    options
        .connection
        .and_then(|c| config.urls.get(&c.to_ascii_lowercase()))
        .map_or(options.url, String::as_str)
}

/// The streams' HTTP client: bounded redirects, no `Referer`, and the CA
/// certificates of `WORKER_TLS_CA_FILE` trusted besides the system's roots.
fn client(config: &Config) -> Result<reqwest::Client, Error> {
    crate::tls_provider::install();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .redirect(redirect::policy())
        .referer(false);
    if let Some(path) = config.var(TLS_CA_FILE.name) {
        let pem = read_pem(TLS_CA_FILE.name, path, "CERTIFICATE")?;
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| Error::msg(format!("{}: `{path}`: {e}", TLS_CA_FILE.name)))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| Error::msg(format!("cannot build the sse http client: {e}")))
}

impl Service for SseService {
    fn name(&self) -> &'static str {
        "sse"
    }

    fn serves(&self) -> &'static [&'static str] {
        &["sse"]
    }

    fn variables(&self) -> &'static [Variable] {
        SSE_VARIABLES
    }

    fn check_config(&self, config: &Config) -> Result<(), ConfigError> {
        SseConfig::from_config(config).map(|_| ())
    }

    fn probe<'a>(
        &'a self,
        config: &'a Config,
        routes: &'a [&'static Route],
    ) -> BoxFuture<'a, Vec<Probe>> {
        Box::pin(async move {
            let Ok(sse) = SseConfig::from_config(config) else {
                return Vec::new(); // reported by check_config
            };
            let Ok(client) = client(config) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for route in routes {
                let Some(record) = route::sse_route(route) else {
                    continue;
                };
                let options = &record.options;
                out.push(probe_route(&client, &sse, route, options).await);
            }
            out
        })
    }

    fn start(&self, ctx: ServiceContext) -> Result<Option<BoxFuture<'static, ()>>, Error> {
        let config = SseConfig::from_config(&ctx.config)?;
        let mut consumers = Vec::new();
        let mut shared_client: Option<reqwest::Client> = None;
        for route in &ctx.routes {
            let Some(record) = route::sse_route(route) else {
                continue;
            };
            let options = &record.options;
            let handler = &(record.make)();
            let client = match &shared_client {
                Some(c) => c.clone(),
                None => shared_client.insert(client(&ctx.config)?).clone(),
            };
            let consumer = self.consumer(&ctx, &config, route, options, handler.clone(), client)?;
            tracing::info!(
                route = route.name,
                url = &*consumer.shown,
                bulk_size = consumer.bulk_size,
                events = ?consumer.events,
                "starting sse consumer"
            );
            consumers.push(consumer);
        }
        if consumers.is_empty() {
            return Ok(None);
        }
        let tasks: Vec<_> = consumers
            .into_iter()
            .map(|c| tokio::spawn(c.run()))
            .collect();
        Ok(Some(Box::pin(async move {
            for r in join_all(tasks).await {
                if let Err(e) = r {
                    tracing::error!(error = %e, "sse consumer ended abnormally");
                }
            }
        })))
    }
}
