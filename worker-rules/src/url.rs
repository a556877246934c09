//! URLs: the broker URL schemes, SSE stream URLs, vhost replacement and
//! password masking.

/// The schemes a broker URL may have: RabbitMQ, RabbitMQ over TLS, and the
/// embedded broker.
pub const BROKER_SCHEMES: &[&str] = &["amqp://", "amqps://", "memory://"];

/// A broker URL (`amqp://`, `amqps://` or `memory://`). The message never
/// contains the password.
pub fn broker_url(url: &str) -> Result<(), String> {
    if BROKER_SCHEMES.iter().any(|s| url.starts_with(s)) {
        Ok(())
    } else {
        Err(format!(
            "expected an `amqp://`, `amqps://` or `memory://` URL, got `{}`",
            mask_url(url)
        ))
    }
}

/// An SSE stream URL: `http://` or `https://` with a host.
pub fn sse_url(url: &str) -> Result<(), String> {
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    if host.is_none_or(|h| h.is_empty() || h.starts_with('/')) {
        Err(format!(
            "expected an `http://` or `https://` URL, got `{}`",
            mask_url(url)
        ))
    } else {
        Ok(())
    }
}

/// Masks every password of `text`, a URL or a comma-separated list of
/// URLs: `amqp://user:****@host/`.
pub fn mask_url(text: &str) -> String {
    text.split(',').map(mask_one).collect::<Vec<_>>().join(",")
}

fn mask_one(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:****{}",
                &url[..scheme_end + 3],
                &authority[..colon],
                &rest[at..]
            ),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Replaces the vhost (the path) of an AMQP URL, percent-encoding `%` and
/// `/`, and keeps its query.
pub fn with_vhost(url: &str, vhost: &str) -> String {
    let encoded = vhost.replace('%', "%25").replace('/', "%2f");
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let (authority, query) = match rest.find('/') {
        Some(slash) => {
            let path = &rest[slash..];
            let query = path.find('?').map(|q| &path[q..]).unwrap_or("");
            (&rest[..slash], query)
        }
        None => match rest.find('?') {
            Some(q) => (&rest[..q], &rest[q..]),
            None => (rest, ""),
        },
    };
    format!("{}{authority}/{encoded}{query}", &url[..scheme_end + 3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_urls_and_lists() {
        assert_eq!(
            mask_url("amqp://guest:secret@localhost:5672/%2f"),
            "amqp://guest:****@localhost:5672/%2f"
        );
        assert_eq!(mask_url("amqp://localhost/"), "amqp://localhost/");
        assert_eq!(mask_url("amqp://user@localhost/"), "amqp://user@localhost/");
        assert_eq!(mask_url("memory://"), "memory://");
        assert_eq!(
            mask_url("amqp://a:p1@h1:5681/%2f,amqp://b:p2@h2:5682/%2f"),
            "amqp://a:****@h1:5681/%2f,amqp://b:****@h2:5682/%2f"
        );
        // An `@` after the authority is not a password separator.
        assert_eq!(mask_url("amqp://h/v?x=a:b@c"), "amqp://h/v?x=a:b@c");
    }

    #[test]
    fn broker_and_sse_urls() {
        assert!(broker_url("amqps://h").is_ok());
        let e = broker_url("http://u:topsecret@h/").unwrap_err();
        assert!(e.contains("u:****@h") && !e.contains("topsecret"), "{e}");
        assert!(sse_url("https://feeds.example/x").is_ok());
        for bad in ["ftp://x", "http://", "https:///x", "feeds.example"] {
            assert!(sse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vhost_replaces_the_path() {
        assert_eq!(
            with_vhost("amqp://u:p@h:5672/%2f", "other"),
            "amqp://u:p@h:5672/other"
        );
        assert_eq!(with_vhost("amqp://h", "a/b"), "amqp://h/a%2fb");
        assert_eq!(
            with_vhost("amqp://h/x?heartbeat=10", "v"),
            "amqp://h/v?heartbeat=10"
        );
    }
}
