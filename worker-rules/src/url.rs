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
            // A node is echoed only when it starts with a scheme (then it is
            // masked): a fragment without one may be the rest of a password
            // that holds a comma.
            let what = if position.is_empty() {
                String::new()
            } else if BROKER_SCHEMES.iter().any(|s| node.starts_with(s)) {
                format!(": {position} is `{}`", mask_url(node))
            } else {
                format!(": {position} does not start with `amqp://` or `amqps://` (a `,` in a password is written `%2C`)")
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

/// The schemes after which a comma starts the next URL of a list (a
/// comma before anything else belongs to the previous URL's password).
const LIST_SCHEMES: &[&str] = &["amqp://", "amqps://", "memory://", "http://", "https://"];

/// Query parameters whose value is masked: a name that contains one of
/// these, in any case (`token`, `api_key`, `X-Signature`, `sig`).
const SECRET_PARAMS: &[&str] = &[
    "token", "key", "secret", "password", "passwd", "sig", "auth",
];

/// Masks every secret of `text`, a URL or a comma-separated list of URLs:
/// the password (`amqp://user:****@host/`), and the value of each query
/// parameter whose name looks like a secret (`?token=****`).
///
/// The password is everything between the user's `:` and the URL's last
/// `@`, so a password holding `,` `/` `?` `#` `:` or `@` (written
/// unescaped) is masked whole; an `@` later in the URL masks more, never
/// less. A comma starts the next URL only when a scheme follows it.
pub fn mask_url(text: &str) -> String {
    let mut urls: Vec<String> = Vec::new();
    for part in text.split(',') {
        let starts_url = LIST_SCHEMES
            .iter()
            .any(|s| part.trim_start().starts_with(s));
        match urls.last_mut() {
            Some(last) if !starts_url => {
                last.push(',');
                last.push_str(part);
            }
            _ => urls.push(part.to_owned()),
        }
    }
    urls.iter()
        .map(|u| mask_one(u))
        .collect::<Vec<_>>()
        .join(",")
}

fn mask_one(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let (head, rest) = url.split_at(scheme_end + 3);
    // Without a `:` before the last `@` there is no password: the `@` is
    // the user's, or is in the path, query or fragment, and the query is
    // masked from its start (a `token=x@y` value included).
    let userinfo = rest
        .rfind('@')
        .and_then(|at| Some((&rest[..at], rest[..at].find(':')?, &rest[at + 1..])));
    match userinfo {
        Some((userinfo, colon, tail)) => {
            format!("{head}{}:****@{}", &userinfo[..colon], mask_query(tail))
        }
        None => format!("{head}{}", mask_query(rest)),
    }
}

/// `host/path?a=1&token=x#f` with the secret-looking parameters masked.
fn mask_query(rest: &str) -> String {
    let Some(q) = rest.find('?') else {
        return rest.to_owned();
    };
    let (before, query) = rest.split_at(q + 1);
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if looks_secret(name) => format!("{name}=****"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{before}{}{fragment}", params.join("&"))
}

fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
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
        // An `@` later in the URL masks more, never less.
        assert_eq!(mask_url("amqp://h/v?x=a:b@c"), "amqp://h/v?x=a:****@c");
        assert_eq!(
            mask_url("https://u:p@feeds.example/s?Access_Token=abc&n=1&sig=zz#top"),
            "https://u:****@feeds.example/s?Access_Token=****&n=1&sig=****#top"
        );
        assert_eq!(mask_url("http://h/s?api_key=k"), "http://h/s?api_key=****");
        // An `@` in the query without a `:` before it is no password's end:
        // the query is still masked (found by the `url_masking` fuzz target).
        assert_eq!(
            mask_url("https://stream.example/events?token=s3cr3t,/?#@!"),
            "https://stream.example/events?token=****#@!"
        );
        assert_eq!(
            mask_url("https://h/s?token=abc@def&n=1"),
            "https://h/s?token=****&n=1"
        );
    }

    /// Passwords made of every printable ASCII character (none holds
    /// `://`) never appear in a masked URL, a masked list, or an error.
    #[test]
    fn no_password_survives_masking() {
        let alphabet: Vec<char> = (0x20u8..0x7f).map(char::from).collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5000 {
            let len = 4 + (next() % 20) as usize;
            let password: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if password.contains("://") {
                continue;
            }
            let marker = format!("Q{password}Q");
            for url in [
                format!("amqp://user:{marker}@h1:5672/%2f"),
                format!("amqp://a:{marker}@h1/%2f,amqps://b:{marker}@h2/%2f"),
                format!("http://user:{marker}@mgmt:15672"),
            ] {
                let masked = mask_url(&url);
                assert!(!masked.contains(&marker), "{url:?} -> {masked:?}");
                for e in [broker_url(&url).err(), broker_nodes(&url).err()]
                    .into_iter()
                    .flatten()
                {
                    // Not even the part of a password after a comma.
                    for piece in marker.split(',').filter(|p| p.len() >= 4) {
                        assert!(!e.contains(piece), "{url:?} -> {e:?}");
                    }
                }
            }
        }
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
