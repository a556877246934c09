//! URLs: the broker URL schemes, SSE stream URLs, vhost replacement and
//! password masking.

/// The schemes a broker URL may have: RabbitMQ, RabbitMQ over TLS, and the
/// embedded broker.
pub const BROKER_SCHEMES: &[&str] = &["amqp://", "amqps://", "memory://"];

/// A broker URL (`amqp://`, `amqps://` or `memory://`), or a
/// comma-separated list of `amqp(s)://` URLs, the nodes of one cluster. The
/// message never contains a password.
pub fn broker_url(url: &str) -> Result<(), String> {
    broker_nodes(url).map(|_| ())
}

/// The nodes of a broker URL: one URL, or each URL of a comma-separated
/// list (spaces around the commas are ignored). A list holds only
/// `amqp://` and `amqps://` URLs, none empty. Errors never contain a
/// password.
pub fn broker_nodes(url: &str) -> Result<Vec<&str>, String> {
    let nodes: Vec<&str> = url.split(',').map(str::trim).collect();
    let expected = if nodes.len() > 1 {
        "a comma-separated list of `amqp://` or `amqps://` URLs (the nodes of one cluster)"
    } else {
        "an `amqp://`, `amqps://` or `memory://` URL"
    };
    for (i, node) in nodes.iter().enumerate() {
        let position = if nodes.len() > 1 {
            format!("node {} of {}", i + 1, nodes.len())
        } else {
            String::new()
        };
        let scheme_ok = if nodes.len() > 1 {
            BROKER_SCHEMES[..2].iter().any(|s| node.starts_with(s))
        } else {
            BROKER_SCHEMES.iter().any(|s| node.starts_with(s))
        };
        if node.is_empty() {
            return Err(format!(
                "expected {expected}, got `{}`: {position} is empty (a stray comma?)",
                mask_url(url)
            ));
        }
        if !scheme_ok {
            let what = if position.is_empty() {
                String::new()
            } else {
                format!(": {position} is `{}`", mask_url(node))
            };
            return Err(format!(
                "expected {expected}, got `{}`{what}",
                mask_url(url)
            ));
        }
    }
    Ok(nodes)
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

/// The vhost an AMQP URL (the first node of a list) names: its path,
/// percent-decoded; `/` when the URL has no path.
pub fn vhost_of(url: &str) -> String {
    let node = url.split(',').next().unwrap_or("").trim();
    let rest = node.split_once("://").map_or(node, |(_, r)| r);
    let Some(slash) = rest.find('/') else {
        return "/".to_owned();
    };
    let path = &rest[slash + 1..];
    let path = path.split('?').next().unwrap_or("");
    percent_decode(path)
}

/// `%XX` escapes decoded (an invalid one is kept as written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Replaces the vhost (the path) of an AMQP URL, or of each node of a
/// comma-separated list, percent-encoding `%` and `/`, and keeps its query.
pub fn with_vhost(url: &str, vhost: &str) -> String {
    url.split(',')
        .map(|node| vhost_of_one(node.trim(), vhost))
        .collect::<Vec<_>>()
        .join(",")
}

fn vhost_of_one(url: &str, vhost: &str) -> String {
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
    fn node_lists() {
        assert_eq!(broker_nodes("amqp://h/").unwrap(), ["amqp://h/"]);
        assert_eq!(
            broker_nodes("amqp://u:p@h1:5681/%2f, amqps://u:p@h2:5682/%2f").unwrap(),
            ["amqp://u:p@h1:5681/%2f", "amqps://u:p@h2:5682/%2f"]
        );
        let e = broker_nodes("amqp://u:s3cret@h1/,").unwrap_err();
        assert!(e.contains("node 2 of 2 is empty"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = broker_nodes("amqp://u:s3cret@h1/,memory://").unwrap_err();
        assert!(e.contains("node 2 of 2 is `memory://`"), "{e}");
        let e = broker_nodes("amqp://u:s3cret@h1/,h2:5672").unwrap_err();
        assert!(
            e.contains("list of `amqp://`") && !e.contains("s3cret"),
            "{e}"
        );
        assert!(broker_nodes("memory://x").is_ok());
        assert!(broker_nodes("").is_err());
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
    fn the_vhost_is_the_decoded_path() {
        assert_eq!(vhost_of("amqp://u:p@h:5672/%2f"), "/");
        assert_eq!(vhost_of("amqp://h"), "/");
        assert_eq!(vhost_of("amqp://h/orders?heartbeat=10"), "orders");
        assert_eq!(vhost_of("amqp://h1/a%2fb,amqp://h2/a%2fb"), "a/b");
        assert_eq!(vhost_of("amqp://h/100%"), "100%");
    }

    #[test]
    fn vhost_replaces_the_path() {
        assert_eq!(
            with_vhost("amqp://u:p@h:5672/%2f", "other"),
            "amqp://u:p@h:5672/other"
        );
        assert_eq!(with_vhost("amqp://h", "a/b"), "amqp://h/a%2fb");
        assert_eq!(
            with_vhost("amqp://h1:5681/%2f, amqp://h2:5682/%2f", "v"),
            "amqp://h1:5681/v,amqp://h2:5682/v"
        );
        assert_eq!(
            with_vhost("amqp://h/x?heartbeat=10", "v"),
            "amqp://h/v?heartbeat=10"
        );
    }
}
