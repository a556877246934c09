//! The README is the front door: what it documents must be what the code does.

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
