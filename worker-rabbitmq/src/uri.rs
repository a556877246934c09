//! Parsing and validating the AMQP URL of a broker, and applying
//! [`RabbitOptions`] to it.

use std::net::IpAddr;

use lapin::uri::AMQPUri;
use worker_core::backend::broker::AMQP_FRAME_MAX;
use worker_core::backend::error::BrokerError;
use worker_core::rules::url::mask_url;

use crate::options::RabbitOptions;

/// Where to connect: the parsed URI (options applied) and the URL with its
/// password masked, for logs and errors. Its `Debug` shows only the masked
/// URL.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) uri: AMQPUri,
    pub(crate) masked: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.masked)
            .finish_non_exhaustive()
    }
}

/// Parses `url` (`amqp://` or `amqps://`), then applies the heartbeat and
/// vhost overrides of `options`. Errors never contain the password.
pub(crate) fn parse(url: &str, options: &RabbitOptions) -> Result<Endpoint, BrokerError> {
    let masked = mask_url(url);
    let invalid =
        |detail: &str| BrokerError::connection(format!("invalid AMQP URL `{masked}`: {detail}"));

    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some(s) if s.eq_ignore_ascii_case("amqp") || s.eq_ignore_ascii_case("amqps") => {}
        Some(s) => {
            return Err(invalid(&format!(
                "unsupported scheme `{s}`, expected `amqp://` or `amqps://`"
            )))
        }
        None => {
            return Err(invalid(
                "expected `amqp://host[:port]/vhost` or `amqps://...`",
            ))
        }
    }

    let mut uri: AMQPUri = url
        .parse()
        .map_err(|e: String| invalid(&e.replace(url, &masked)))?;

    // amq-protocol-uri reads the host with `Url::domain()`, which is `None`
    // for IP literals, and then falls back to `localhost`: an IP address
    // would silently be replaced by the local machine. Put it back.
    if let Some(ip) = ip_literal_host(url) {
        uri.authority.host = ip.to_string();
    }
    // lapin parses each frame recursively on a thread whose stack the
    // worker sizes for frames of at most AMQP_FRAME_MAX bytes (see
    // `worker_core::backend::cli::THREAD_STACK`): never negotiate more.
    match uri.query.frame_max {
        None | Some(0) => uri.query.frame_max = Some(AMQP_FRAME_MAX),
        Some(n) if n > AMQP_FRAME_MAX => {
            return Err(invalid(&format!(
                "frame_max={n} is above {AMQP_FRAME_MAX}, the most the worker negotiates"
            )))
        }
        Some(_) => {}
    }
    if let Some(heartbeat) = options.heartbeat {
        uri.query.heartbeat = Some(heartbeat);
    }
    if let Some(vhost) = &options.vhost {
        uri.vhost = vhost.clone();
    }
    Ok(Endpoint { uri, masked })
}

/// Parses every node of `url`, one URL or a comma-separated list (the
/// nodes of one cluster).
pub(crate) fn parse_nodes(
    url: &str,
    options: &RabbitOptions,
) -> Result<Vec<Endpoint>, BrokerError> {
    let nodes = worker_core::rules::url::broker_nodes(url).map_err(BrokerError::connection)?;
    nodes.into_iter().map(|node| parse(node, options)).collect()
}

/// The host of `url` when it is an IP address (`127.0.0.1`, `[::1]`).
fn ip_literal_host(url: &str) -> Option<IpAddr> {
    let rest = url.split_once("://")?.1;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.0,
        None => host_port.split(':').next()?,
    };
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::uri::AMQPScheme;

    fn opts() -> RabbitOptions {
        RabbitOptions::default()
    }

    #[test]
    fn debug_shows_no_password() {
        let options = RabbitOptions {
            management_url: Some("http://admin:mgmtpw@h:15672".into()),
            ..RabbitOptions::default()
        };
        let endpoint = parse("amqp://u:amqppw@h:5672/%2f", &options).unwrap();
        let shown = format!("{endpoint:?} {options:?}");
        assert!(
            !shown.contains("amqppw") && !shown.contains("mgmtpw"),
            "{shown}"
        );
        assert!(
            shown.contains("u:****@h") && shown.contains("admin:****@h"),
            "{shown}"
        );
        let api =
            crate::management::Management::new("http://admin:mgmtpw@h:15672", "/".into(), None);
        #[cfg(feature = "management")]
        let shown = format!("{:?}", api.unwrap());
        #[cfg(not(feature = "management"))]
        let shown = api.unwrap_err();
        assert!(!shown.contains("mgmtpw"), "{shown}");
    }

    #[test]
    fn parses_amqp_url_with_ip_host_and_default_vhost() {
        let e = parse("amqp://guest:secret@127.0.0.1:5673/%2f", &opts()).unwrap();
        assert_eq!(e.uri.scheme, AMQPScheme::AMQP);
        assert_eq!(e.uri.authority.host, "127.0.0.1");
        assert_eq!(e.uri.authority.port, 5673);
        assert_eq!(e.uri.authority.userinfo.username, "guest");
        assert_eq!(e.uri.authority.userinfo.password, "secret");
        assert_eq!(e.uri.vhost, "/");
        assert_eq!(e.masked, "amqp://guest:****@127.0.0.1:5673/%2f");
    }

    #[test]
    fn keeps_remote_ip_and_ipv6_hosts_and_default_ports() {
        for (url, scheme, host, port, vhost) in [
            (
                "amqp://u:p@10.1.2.3/v",
                AMQPScheme::AMQP,
                "10.1.2.3",
                5672,
                "v",
            ),
            (
                "amqp://u:p@[::1]:5000/v",
                AMQPScheme::AMQP,
                "::1",
                5000,
                "v",
            ),
            (
                "amqps://user:pw@rabbit.example.com/prod",
                AMQPScheme::AMQPS,
                "rabbit.example.com",
                5671,
                "prod",
            ),
        ] {
            let e = parse(url, &opts()).unwrap();
            assert_eq!(e.uri.scheme, scheme, "{url}");
            assert_eq!(e.uri.authority.host, host, "{url}");
            assert_eq!(e.uri.authority.port, port, "{url}");
            assert_eq!(e.uri.vhost, vhost, "{url}");
        }
    }

    #[test]
    fn applies_heartbeat_and_vhost_overrides() {
        let options = RabbitOptions {
            heartbeat: Some(7),
            vhost: Some("other".into()),
            ..opts()
        };
        let e = parse("amqp://localhost/%2f?heartbeat=30", &options).unwrap();
        assert_eq!(e.uri.query.heartbeat, Some(7));
        assert_eq!(e.uri.vhost, "other");
        let e = parse("amqp://localhost/%2f?heartbeat=30", &opts()).unwrap();
        assert_eq!(e.uri.query.heartbeat, Some(30));
    }

    #[test]
    fn rejects_other_schemes_without_leaking_the_password() {
        let e = parse("memory://", &opts()).unwrap_err();
        assert!(e.message().contains("unsupported scheme `memory`"), "{e}");
        let e = parse("http://u:topsecret@host/", &opts()).unwrap_err();
        assert!(!e.message().contains("topsecret"), "{e}");
        assert!(e.message().contains("u:****@host"), "{e}");
        let e = parse("localhost:5672", &opts()).unwrap_err();
        assert!(e.message().contains("expected `amqp://"), "{e}");
    }

    #[test]
    fn rejects_malformed_urls_without_leaking_the_password() {
        let e = parse("amqp://u:topsecret@host:notaport/", &opts()).unwrap_err();
        assert!(!e.message().contains("topsecret"), "{e}");
        assert!(e.message().starts_with("invalid AMQP URL"), "{e}");
        let e = parse("amqp://u:topsecret@host/?heartbeat=x", &opts()).unwrap_err();
        assert!(!e.message().contains("topsecret"), "{e}");
    }

    #[test]
    fn frame_max_is_capped_at_the_frame_the_stack_is_sized_for() {
        let e = parse("amqp://h/", &opts()).unwrap();
        assert_eq!(e.uri.query.frame_max, Some(AMQP_FRAME_MAX));
        let e = parse("amqp://h/?frame_max=0", &opts()).unwrap();
        assert_eq!(e.uri.query.frame_max, Some(AMQP_FRAME_MAX));
        let e = parse("amqp://h/?frame_max=8192", &opts()).unwrap();
        assert_eq!(e.uri.query.frame_max, Some(8192));
        let e = parse("amqp://u:topsecret@h/?frame_max=1048576", &opts()).unwrap_err();
        assert!(
            e.message().contains("frame_max=1048576 is above 131072"),
            "{e}"
        );
        assert!(!e.message().contains("topsecret"), "{e}");
    }
}
