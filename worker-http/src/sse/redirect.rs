//! The redirect rule of the SSE client: a redirect is followed only within
//! the stream's origin (scheme, host and port of its URL), at most
//! [`MAX_REDIRECTS`] hops; a hop to another origin, https to http among
//! them, is refused, so the connection's configured headers
//! (`WORKER_SSE_<NAME>_HEADERS`, often credentials) never reach another
//! server. A refused redirect is a failed connect: logged, counted
//! (`worker_sse_stream_errors_total{reason="redirect_refused"}`) and retried
//! with the reconnect backoff. No `Referer` is sent (the client is built
//! with `referer(false)`).

use std::fmt;

use reqwest::redirect::Policy;
use reqwest::Url;

/// The most redirects followed for one request.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// Why a redirect was not followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedirectRefused(String);

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// The client's redirect policy.
pub(crate) fn policy() -> Policy {
    Policy::custom(|attempt| match check(attempt.url(), attempt.previous()) {
        Ok(()) => attempt.follow(),
        Err(refused) => attempt.error(refused),
    })
}

/// Whether the hop to `next` may be followed; `previous` holds the URLs
/// requested so far, the stream's own first. Errors show origins only:
/// a URL's path or query may hold a secret.
fn check(next: &Url, previous: &[Url]) -> Result<(), RedirectRefused> {
    let Some(stream) = previous.first() else {
        return Ok(());
    };
    let to = next.origin().ascii_serialization();
    if next.scheme() == "http" && previous.iter().any(|u| u.scheme() == "https") {
        return Err(RedirectRefused(format!(
            "redirect from https to http (`{to}`) refused"
        )));
    }
    if next.origin() != stream.origin() {
        return Err(RedirectRefused(format!(
            "redirect to another origin (`{to}`) refused: the sse client follows redirects only within the stream's origin `{}`",
            stream.origin().ascii_serialization()
        )));
    }
    if previous.len() > MAX_REDIRECTS {
        return Err(RedirectRefused(format!(
            "more than {MAX_REDIRECTS} redirects: refused"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<Url> {
        list.iter().map(|u| Url::parse(u).unwrap()).collect()
    }

    fn hop(next: &str, previous: &[&str]) -> Result<(), String> {
        check(&Url::parse(next).unwrap(), &urls(previous)).map_err(|e| e.to_string())
    }

    #[test]
    fn same_origin_hops_are_followed_up_to_the_limit() {
        assert_eq!(hop("http://h:8080/b?x=1", &["http://h:8080/a"]), Ok(()));
        // The scheme's default port is the same origin as no port.
        assert_eq!(hop("https://h:443/b", &["https://h/a"]), Ok(()));
        // `previous` holds the stream's URL and each hop followed.
        let chain = [
            "http://h/0",
            "http://h/1",
            "http://h/2",
            "http://h/3",
            "http://h/4",
            "http://h/5",
        ];
        assert_eq!(hop("http://h/5", &chain[..5]), Ok(()), "the fifth hop");
        let e = hop("http://h/6", &chain).unwrap_err();
        assert!(e.contains("more than 5 redirects"), "{e}");
    }

    #[test]
    fn other_origins_and_downgrades_are_refused() {
        for next in [
            "http://h:8081/a",
            "http://other/a",
            "https://h:8080/a",
            "http://user:secret@evil:1/a?token=t0p",
        ] {
            let e = hop(next, &["http://h:8080/a"]).unwrap_err();
            assert!(
                e.contains("another origin") && e.contains("`http://h:8080`"),
                "{e}"
            );
            assert!(!e.contains("secret") && !e.contains("t0p"), "{e}");
        }
        let e = hop("http://h/a", &["https://h/a"]).unwrap_err();
        assert!(e.contains("https to http"), "{e}");
        // A downgrade anywhere along the chain.
        let e = hop("http://h/c", &["https://h/a", "https://h/b"]).unwrap_err();
        assert!(e.contains("https to http"), "{e}");
    }
}
