//! The RabbitMQ management HTTP API, where the worker is given its URL
//! (`WORKER_AMQP_MANAGEMENT_URL`): what a passive declare cannot say, a
//! queue's type and arguments (`check --drift`).

use std::collections::BTreeMap;
use std::time::Duration;

use worker_core::backend::broker::{AmqpValue, Binding, Headers, Inspected, QueueArgument};
use worker_core::rules::url::mask_url;

/// The management API of one vhost. Its `Debug` shows no credential.
#[derive(Clone)]
pub(crate) struct Management {
    /// `http(s)://host:port`, without credentials or trailing slash.
    base: String,
    user: String,
    password: String,
    /// Credentials masked, for messages.
    masked: String,
    vhost: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for Management {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Management")
            .field("url", &self.masked)
            .field("vhost", &self.vhost)
            .finish_non_exhaustive()
    }
}

/// `/` and everything but unreserved characters, percent-encoded (one
/// path segment of the API).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Management {
    /// The API at `url` (`http://user:password@host:15672`) for `vhost`,
    /// trusting the PEM certificates of `ca_pem` besides the system's roots.
    pub(crate) fn new(url: &str, vhost: String, ca_pem: Option<&str>) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("invalid management URL `{}`: {e}", mask_url(url)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "invalid management URL `{}`: expected http:// or https://",
                mask_url(url)
            ));
        }
        let user = parsed.username().to_owned();
        let password = parsed.password().unwrap_or_default().to_owned();
        let mut base = parsed.clone();
        let _ = base.set_username("");
        let _ = base.set_password(None);
        // The provider of reqwest's `rustls-no-provider`; another part of the
        // process may have installed it already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut client = reqwest::Client::builder().timeout(Duration::from_secs(10));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| format!("WORKER_TLS_CA_FILE: {e}"))?;
            for cert in certs {
                client = client.add_root_certificate(cert);
            }
        }
        let client = client
            .build()
            .map_err(|e| format!("management HTTP client: {e}"))?;
        Ok(Management {
            base: base.as_str().trim_end_matches('/').to_owned(),
            user: if user.is_empty() {
                "guest".into()
            } else {
                user
            },
            password,
            masked: mask_url(url),
            vhost,
            client,
        })
    }

    /// `GET /api/<path>` as JSON; `None` on a 404.
    async fn get(&self, path: &str, what: &str) -> Result<Option<serde_json::Value>, String> {
        let url = format!("{}/api/{path}", self.base);
        let res = self
            .client
            .get(&url)
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .map_err(|e| format!("management API at {}: {e}", self.masked))?;
        match res.status().as_u16() {
            404 => return Ok(None),
            200 => {}
            other => {
                return Err(format!(
                    "management API at {} answered {other} for {what}",
                    self.masked
                ))
            }
        }
        res.json()
            .await
            .map(Some)
            .map_err(|e| format!("management API at {}: {e}", self.masked))
    }

    /// `GET /api/queues/<vhost>/<queue>`.
    pub(crate) async fn inspect(&self, queue: &str) -> Result<Option<Inspected>, String> {
        let path = format!("queues/{}/{}", segment(&self.vhost), segment(queue));
        let body = self.get(&path, &format!("queue `{queue}`")).await?;
        Ok(body.as_ref().map(inspected))
    }

    /// `GET /api/exchanges/<vhost>/<exchange>`: its type.
    pub(crate) async fn exchange_type(&self, exchange: &str) -> Result<Option<String>, String> {
        let path = format!("exchanges/{}/{}", segment(&self.vhost), segment(exchange));
        let body = self.get(&path, &format!("exchange `{exchange}`")).await?;
        Ok(body.map(|b| b["type"].as_str().unwrap_or_default().to_owned()))
    }

    /// `GET /api/queues/<vhost>/<queue>/bindings`, the default exchange's
    /// binding left out.
    pub(crate) async fn bindings(&self, queue: &str) -> Result<Vec<Binding>, String> {
        let path = format!(
            "queues/{}/{}/bindings",
            segment(&self.vhost),
            segment(queue)
        );
        let body = self
            .get(&path, &format!("the bindings of `{queue}`"))
            .await?;
        Ok(body.as_ref().map(bindings).unwrap_or_default())
    }
}

/// The API's binding objects as [`Binding`]s (string, integer and boolean
/// arguments; a headers match's arguments are strings).
fn bindings(list: &serde_json::Value) -> Vec<Binding> {
    let mut out = Vec::new();
    for b in list.as_array().into_iter().flatten() {
        let exchange = b["source"].as_str().unwrap_or_default();
        if exchange.is_empty() {
            continue;
        }
        let mut arguments = Headers::new();
        for (name, value) in b["arguments"].as_object().into_iter().flatten() {
            let value = match argument(value) {
                QueueArgument::Str(s) => AmqpValue::Str(s),
                QueueArgument::Int(i) => AmqpValue::Int(i),
                QueueArgument::Bool(b) => AmqpValue::Bool(b),
            };
            arguments.insert(name.clone(), value);
        }
        let key = b["routing_key"].as_str().unwrap_or_default();
        out.push(Binding::new(exchange, key).with_arguments(arguments));
    }
    out
}

impl Management {
    /// `GET /api/overview`: the broker's `rabbitmq_version`.
    pub(crate) async fn version(&self) -> Option<worker_core::backend::broker::BrokerVersion> {
        let body: serde_json::Value = self
            .client
            .get(format!("{}/api/overview", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        worker_core::backend::broker::BrokerVersion::parse(body["rabbitmq_version"].as_str()?)
    }
}

/// An argument's JSON value: strings, integers and booleans as they are,
/// anything else as its JSON text.
fn argument(value: &serde_json::Value) -> QueueArgument {
    match value {
        serde_json::Value::Bool(b) => QueueArgument::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => QueueArgument::Int(i),
            None => QueueArgument::Str(n.to_string()),
        },
        serde_json::Value::String(s) => QueueArgument::Str(s.clone()),
        other => QueueArgument::Str(other.to_string()),
    }
}

/// A queue object of the API as [`Inspected`].
fn inspected(queue: &serde_json::Value) -> Inspected {
    let mut arguments = BTreeMap::new();
    if let Some(args) = queue["arguments"].as_object() {
        for (name, value) in args {
            if name == "x-queue-type" {
                continue;
            }
            arguments.insert(name.clone(), argument(value));
        }
    }
    Inspected {
        queue_type: queue["type"].as_str().unwrap_or("classic").to_owned(),
        arguments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_queues_become_inspected_queues() {
        let q = serde_json::json!({
            "type": "quorum",
            "arguments": {"x-queue-type": "quorum", "x-delivery-limit": 3,
                          "x-single-active-consumer": true, "x-dead-letter-exchange": ""}
        });
        let i = inspected(&q);
        assert_eq!(i.queue_type, "quorum");
        assert_eq!(
            i.arguments.into_iter().collect::<Vec<_>>(),
            [
                (
                    "x-dead-letter-exchange".to_owned(),
                    QueueArgument::Str(String::new())
                ),
                ("x-delivery-limit".to_owned(), QueueArgument::Int(3)),
                (
                    "x-single-active-consumer".to_owned(),
                    QueueArgument::Bool(true)
                ),
            ]
        );
        assert_eq!(segment("/"), "%2F");
        assert_eq!(segment("a.b c"), "a.b%20c");
    }

    #[test]
    fn credentials_are_taken_out_and_masked() {
        let m = Management::new("http://ops:s3cret@rabbit:15672/", "/".into(), None).unwrap();
        assert_eq!(m.base, "http://rabbit:15672");
        assert_eq!((m.user.as_str(), m.password.as_str()), ("ops", "s3cret"));
        assert!(!m.masked.contains("s3cret"));
        assert!(Management::new("amqp://rabbit", "/".into(), None).is_err());
    }
}
