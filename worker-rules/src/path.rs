//! HTTP path templates: the grammar `#[route(http, path = ...)]` accepts,
//! which is axum's (`{name}` parameters, `{*rest}` catch-alls).

use std::collections::HashSet;

/// Every violation of the path grammar in `path` (empty when valid):
/// `/`-separated non-empty segments, no trailing slash (except `/` itself),
/// `{name}` parameters as whole segments with identifier names and no
/// duplicates, `{*rest}` only last.
pub fn http_path(path: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if !path.starts_with('/') {
        errors.push(format!("path `{path}` must start with `/`"));
        return errors;
    }
    if let Some(c) = path
        .chars()
        .find(|c| matches!(c, '?' | '#') || c.is_whitespace())
    {
        errors.push(format!("path `{path}` must not contain {c:?}"));
    }
    if path == "/" {
        return errors;
    }
    if path.ends_with('/') {
        errors.push(format!("path `{path}` must not end with `/`"));
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut params = HashSet::new();
    let mut empty_reported = false;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            if i != last && !empty_reported {
                errors.push(format!("path `{path}` has an empty segment"));
                empty_reported = true;
            }
            continue;
        }
        segment_errors(path, segment, i == last, &mut params, &mut errors);
    }
    errors
}

fn segment_errors<'p>(
    path: &str,
    segment: &'p str,
    is_last: bool,
    params: &mut HashSet<&'p str>,
    errors: &mut Vec<String>,
) {
    if let Some(old) = old_syntax(segment) {
        errors.push(format!(
            "`{segment}` in path `{path}` is axum 0.7's syntax; write `{old}`"
        ));
        return;
    }
    if !segment.contains(['{', '}']) {
        return;
    }
    let opens = segment.matches('{').count();
    let closes = segment.matches('}').count();
    if opens > closes {
        errors.push(format!(
            "unclosed `{{` in `{segment}` of path `{path}`; a parameter is written `{{name}}`"
        ));
        return;
    }
    if closes > opens {
        errors.push(format!(
            "unmatched `}}` in `{segment}` of path `{path}`; a parameter is written `{{name}}`"
        ));
        return;
    }
    let inner = segment
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .filter(|s| !s.contains(['{', '}']));
    let Some(inner) = inner else {
        errors.push(format!(
            "parameter in `{segment}` of path `{path}` must be a whole segment, like `/{{id}}`"
        ));
        return;
    };
    let (catch_all, name) = match inner.strip_prefix('*') {
        Some(name) => (true, name),
        None => (false, inner),
    };
    if !is_identifier(name) {
        errors.push(format!(
            "invalid parameter name `{name}` in path `{path}`, expected an identifier"
        ));
    } else if !params.insert(name) {
        errors.push(format!("duplicate parameter `{name}` in path `{path}`"));
    }
    if catch_all && !is_last {
        errors.push(format!(
            "catch-all `{segment}` must be the last segment of path `{path}`"
        ));
    }
}

/// The `{name}` / `{*name}` form of a `:name` / `*name` segment (the
/// syntax of axum before 0.8, which axum now refuses at startup).
fn old_syntax(segment: &str) -> Option<String> {
    let (star, name) = if let Some(name) = segment.strip_prefix(':') {
        ("", name)
    } else if let Some(name) = segment.strip_prefix('*') {
        ("*", name)
    } else {
        return None;
    };
    is_identifier(name).then(|| format!("{{{star}{name}}}"))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_ascii_alphabetic() => {
            name != "_" && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        }
        _ => false,
    }
}

/// A literal absolute path (the metrics endpoint): `/` then non-empty
/// segments, no parameters, query, fragment or whitespace.
pub fn literal_path(path: &str) -> Result<(), String> {
    let valid = path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && !path.contains("//")
        && !path
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '{' | '}' | '*' | ':'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "expected an absolute path without parameters (e.g. `/metrics`), got `{path}`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_is_reported() {
        assert_eq!(http_path("items"), ["path `items` must start with `/`"]);
        assert_eq!(
            http_path("/a//b/"),
            [
                "path `/a//b/` must not end with `/`",
                "path `/a//b/` has an empty segment"
            ]
        );
        assert_eq!(
            http_path("/{*rest}/x/{id}/{id}/{1x}/a{b}"),
            [
                "catch-all `{*rest}` must be the last segment of path `/{*rest}/x/{id}/{id}/{1x}/a{b}`",
                "duplicate parameter `id` in path `/{*rest}/x/{id}/{id}/{1x}/a{b}`",
                "invalid parameter name `1x` in path `/{*rest}/x/{id}/{id}/{1x}/a{b}`, expected an identifier",
                "parameter in `a{b}` of path `/{*rest}/x/{id}/{id}/{1x}/a{b}` must be a whole segment, like `/{id}`",
            ]
        );
        assert_eq!(http_path("/a b"), ["path `/a b` must not contain ' '"]);
    }

    #[test]
    fn literal_paths() {
        assert!(literal_path("/internal/metrics").is_ok());
        for bad in ["metrics", "/", "/m/{id}", "/m?x=1", "/m/", "//m"] {
            assert!(literal_path(bad).is_err(), "{bad}");
        }
    }

    // The assertions the macro crate had on the grammar, kept where it lives.
    #[test]
    fn path_grammar() {
        for ok in ["/", "/items", "/items/{id}", "/a/{id}/b/{*rest}", "/{_x1}"] {
            assert!(http_path(ok).is_empty(), "{ok}: {:?}", http_path(ok));
        }
        assert_eq!(http_path("items"), ["path `items` must start with `/`"]);
        assert_eq!(
            http_path("/items/"),
            ["path `/items/` must not end with `/`"]
        );
        assert_eq!(http_path("/a//b"), ["path `/a//b` has an empty segment"]);
        assert_eq!(
            http_path("/a/x{id}"),
            ["parameter in `x{id}` of path `/a/x{id}` must be a whole segment, like `/{id}`"]
        );
        assert_eq!(
            http_path("/{1d}/{id}/{id}"),
            [
                "invalid parameter name `1d` in path `/{1d}/{id}/{id}`, expected an identifier",
                "duplicate parameter `id` in path `/{1d}/{id}/{id}`",
            ]
        );
        assert_eq!(
            http_path("/{*rest}/x"),
            ["catch-all `{*rest}` must be the last segment of path `/{*rest}/x`"]
        );
        assert_eq!(http_path("/a?b"), ["path `/a?b` must not contain '?'"]);
    }

    #[test]
    fn axum_07_syntax_and_unbalanced_braces_say_what_to_write() {
        assert_eq!(
            http_path("/orders/:id"),
            ["`:id` in path `/orders/:id` is axum 0.7's syntax; write `{id}`"]
        );
        assert_eq!(
            http_path("/files/*rest"),
            ["`*rest` in path `/files/*rest` is axum 0.7's syntax; write `{*rest}`"]
        );
        assert_eq!(
            http_path("/orders/{id"),
            ["unclosed `{` in `{id` of path `/orders/{id`; a parameter is written `{name}`"]
        );
        assert_eq!(
            http_path("/orders/id}"),
            ["unmatched `}` in `id}` of path `/orders/id}`; a parameter is written `{name}`"]
        );
    }
}
