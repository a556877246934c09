//! The README is the front door: what it documents must be what the code does.

use worker::__private_0_1_0::RouteKind;
use worker::{route, Publisher};

// The README's cron route, compiled and registered here (as written there).
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
/// generated from) is in the README's configuration table.
#[test]
fn every_variable_is_documented_in_the_readme() {
    let readme = include_str!("../README.md");
    for var in worker::config::VARIABLES {
        assert!(
            readme.contains(&format!("| `{}` |", var.name)),
            "README.md does not document `{}` in its configuration table",
            var.name
        );
    }
}

/// Every Rust snippet of the README is part of a file that the test
/// command compiles (an example, a test), so none of them can rot: each
/// ```` ```rust ```` block, line by line, appears in one of those files.
#[test]
fn every_rust_snippet_of_the_readme_is_compiled_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
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
    let snippets = rust_snippets(&readme);
    assert!(snippets.len() >= 5, "found {} snippets", snippets.len());
    for snippet in snippets {
        let found = sources.iter().any(|(_, lines)| {
            lines
                .windows(snippet.len())
                .any(|w| w == snippet.as_slice())
        });
        assert!(
            found,
            "this README snippet is not in any file under examples/ or tests/ (so it is not compiled):\n{}",
            snippet.join("\n")
        );
    }
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
                    "README snippets are compiled; `{trimmed}` is not"
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
