//! The README is the front door: what it documents must be what the code does.

use worker::__private_0_1_0::RouteKind;
use worker::{route, Publisher};

// The cron route of docs/routes.md, compiled and registered here (as written there).
#[rustfmt::skip]
// 08:00 on weekdays, Madrid time, in one of all the running processes.
#[route(cron, schedule = "0 0 8 * * MON-FRI", tz = "Europe/Madrid", singleton = true)]
async fn morning_report(publisher: Publisher) -> Result<(), worker::Error> {
    publisher.send("reports", &"daily").await
}

#[test]
fn the_readme_cron_route_is_registered_with_its_options() {
    let routes = worker::__private_0_1_0::registry::routes();
    let route = routes
        .iter()
        .find(|r| r.name == "morning_report")
        .expect("registered");
    let RouteKind::Cron { options, .. } = route.kind else {
        panic!("a cron route");
    };
    assert_eq!(options.schedule, "0 0 8 * * MON-FRI");
    assert_eq!(options.tz, "Europe/Madrid");
    assert!(options.singleton);
    assert!(options.problems().is_empty());
}

/// Every configuration variable the runtime reads (the table `--help` is
/// generated from) is in the configuration table of docs/configuration.md.
#[test]
fn every_variable_is_documented_in_the_configuration_page() {
    let page = include_str!("../docs/configuration.md");
    for var in worker::config::VARIABLES {
        assert!(
            page.contains(&format!("| `{}` |", var.name)),
            "docs/configuration.md does not document `{}` in its table",
            var.name
        );
    }
}

/// The README and every page of docs/: the front door and what it links to.
fn pages() -> Vec<(std::path::PathBuf, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// Every Rust snippet of the README and of docs/ is part of a file that
/// the test command compiles (an example, a test), so none of them can
/// rot: each ```` ```rust ```` block, line by line, appears in one of
/// those files.
#[test]
fn every_rust_snippet_of_the_documentation_is_compiled_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    for dir in ["examples", "tests"] {
        collect_rust_files(&root.join(dir), &mut sources);
    }
    let sources: Vec<(String, Vec<String>)> = sources
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.display().to_string(),
                text.lines().map(|l| l.trim_end().to_owned()).collect(),
            )
        })
        .collect();
    let mut count = 0;
    for (page, text) in pages() {
        for snippet in rust_snippets(&text) {
            count += 1;
            let found = sources.iter().any(|(_, lines)| {
                lines
                    .windows(snippet.len())
                    .any(|w| w == snippet.as_slice())
            });
            assert!(
                found,
                "this snippet of {} is not in any file under examples/ or tests/ (so it is not compiled):\n{}",
                page.display(),
                snippet.join("\n")
            );
        }
    }
    assert!(count >= 9, "found {count} snippets");
}

/// Every relative link of the README and of docs/ names a file that
/// exists, and every `#anchor` a heading of that file.
#[test]
fn every_relative_link_of_the_documentation_resolves() {
    let mut broken = Vec::new();
    for (page, text) in pages() {
        let dir = page.parent().unwrap();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            if !path.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            }
            if let Some(anchor) = anchor.filter(|_| path.extension().is_some_and(|e| e == "md")) {
                let linked = std::fs::read_to_string(&path).unwrap();
                if !anchors(&linked).iter().any(|a| a == anchor) {
                    broken.push(format!("{}: {target} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The targets of the `[text](target)` links of a Markdown page, outside
/// code blocks.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// The anchors GitHub gives the headings of a page: lower case, spaces
/// as `-`, punctuation other than `-` and `_` dropped.
fn anchors(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        out.push(
            title
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect(),
        );
    }
    out
}

/// The lines of each ```` ```rust ```` block; other languages are ignored,
/// and `rust,ignore` (a snippet that is not compiled) is refused.
fn rust_snippets(markdown: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_end();
        match &mut current {
            None if trimmed.starts_with("```rust") => {
                assert_eq!(
                    trimmed, "```rust",
                    "documentation snippets are compiled; `{trimmed}` is not"
                );
                current = Some(Vec::new());
            }
            None => {}
            Some(lines) if trimmed == "```" => {
                out.push(std::mem::take(lines));
                current = None;
            }
            Some(lines) => lines.push(trimmed.to_owned()),
        }
    }
    out
}

fn collect_rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                collect_rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
