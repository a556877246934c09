//! The generated command line of a real worker binary (`fault-worker`, a
//! worker written with the DSL): help, version, errors, `routes`, and
//! `check` against the real RabbitMQ.

use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_bin(env!("CARGO_BIN_EXE_fault-worker"), args, env)
}

fn run_bin(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args).env_remove("WORKER_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run fault-worker")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_lists_the_commands_and_every_variable() {
    for flag in ["--help", "-h", "help"] {
        let out = run(&[flag], &[]);
        assert!(out.status.success(), "{flag}: {}", text(&out));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("routes") && help.contains("check"), "{help}");
        for var in worker::config::VARIABLES {
            assert!(help.contains(var.name), "`{}` missing:\n{help}", var.name);
        }
        // `main!(prefetch = 256)` is this binary's default.
        assert!(help.contains("[default: 256]"), "{help}");
    }
}

#[test]
fn version_names_the_program_and_the_framework() {
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "fault-worker {} (worker-framework {})",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn unknown_commands_and_options_exit_2_with_a_suggestion() {
    let out = run(&["chek"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unrecognized subcommand 'chek'"), "{err}");
    assert!(
        err.contains("a similar subcommand exists: 'check'"),
        "{err}"
    );
    let out = run(&["routes", "--all"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn routes_prints_the_table() {
    let out = run(&["routes"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("BACKEND"), "{table}");
    for route in [
        "jobs",
        "slow",
        "flaky",
        "strict",
        "again",
        "late",
        "/items/{id}",
    ] {
        assert!(table.contains(route), "`{route}` missing:\n{table}");
    }
}

/// Wrong credentials: one line, the project's own, naming the connection,
/// with the password masked (lapin's internal I/O-loop logs stay quiet).
#[test]
fn check_with_wrong_credentials_prints_one_clear_line() {
    let out = run(
        &["check"],
        &[(
            "WORKER_AMQP_URL",
            "amqp://guest:not-the-password@127.0.0.1:5672/%2f",
        )],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    // Besides the startup warning the worker's `limited` route earns on
    // purpose (a requeueing route on a queue with a delivery limit).
    let (warnings, lines): (Vec<&str>, Vec<&str>) = all
        .lines()
        .filter(|l| !l.trim().is_empty())
        .partition(|l| l.starts_with("warning: "));
    assert_eq!(lines.len(), 1, "{all}");
    assert_eq!(warnings.len(), 1, "{all}");
    assert!(warnings[0].contains("route `limited`"), "{all}");
    assert!(
        lines[0].starts_with("error: connection `default` (amqp://guest:****@127.0.0.1:5672/%2f)"),
        "{all}"
    );
    assert!(lines[0].contains("ACCESS_REFUSED"), "{all}");
    assert!(!all.contains("not-the-password"), "{all}");
}

/// A binary without routes: `routes`, `check` and running it all fail
/// with the linking rule, instead of an empty table.
#[test]
fn a_binary_without_routes_explains_the_linking_rule() {
    for args in [&["routes"][..], &["check"], &[]] {
        let out = run_bin(
            env!("CARGO_BIN_EXE_no-routes"),
            args,
            &[
                ("WORKER_AMQP_URL", "memory://"),
                ("WORKER_HTTP_ADDR", "off"),
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let all = text(&out);
        assert!(
            all.contains("no route is registered") && all.contains("use my_handlers as _;"),
            "{args:?}: {all}"
        );
        assert!(!all.contains("BACKEND"), "{args:?}: {all}");
    }
}
