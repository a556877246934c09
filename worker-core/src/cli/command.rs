//! The command-line grammar (clap): subcommands, `--help` (with every
//! configuration variable and this program's defaults) and `--version`.

use crate::config::{MainOptions, Variable};
use crate::rules::url::mask_url;
use crate::runtime::Backends;

/// The program the command line belongs to: the application's package
/// name and version (`env!("CARGO_PKG_NAME")` and `env!("CARGO_PKG_VERSION")`
/// where `worker::main!` expands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    /// The application's package name.
    pub name: &'static str,
    /// The application's version.
    pub version: &'static str,
}

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run the worker.
    Run,
    /// Print the route table.
    Routes,
    /// Validate and check reachability.
    Check,
    /// `check --drift`: also compare queue arguments with the routes'.
    CheckDrift,
    /// Print the routes' topology.
    Topology(TopologyFormat),
}

/// What `topology --format` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopologyFormat {
    /// A RabbitMQ definitions file (`rabbitmqctl import_definitions`).
    Definitions,
    /// An AsyncAPI 3.0 document.
    AsyncApi,
}

/// The command-line grammar: subcommands, `--help` and `--version`, with
/// the environment variables (generated from the configuration tables:
/// [`VARIABLES`](crate::config::VARIABLES) and the services', with the
/// defaults `main!` set) after the help.
pub(crate) fn command(
    bin: &str,
    program: Program,
    defaults: &MainOptions,
    variables: &[Variable],
) -> clap::Command {
    clap::Command::new(bin.to_owned())
        .version(format!(
            "{} (worker-framework {})",
            program.version,
            env!("CARGO_PKG_VERSION")
        ))
        .about(
            "Runs this worker's routes until SIGINT or SIGTERM; the commands inspect and check them",
        )
        .subcommand(
            clap::Command::new("routes")
                .about("Print the route table: backend, source, options, handler, location"),
        )
        .subcommand(
            clap::Command::new("check")
                .about(
                    "Validate the configuration and the reachability of every connection and queue; \
                     exits non-zero with the reason",
                )
                .arg(
                    clap::Arg::new("drift")
                        .long("drift")
                        .action(clap::ArgAction::SetTrue)
                        .help(
                            "Also compare each existing queue's type and arguments with what its \
                             route declares (RabbitMQ: through WORKER_AMQP_MANAGEMENT_URL)",
                        ),
                ),
        )
        .subcommand(
            clap::Command::new("topology")
                .about(
                    "Print the routes' queues (retry and dead-letter queues included) as a \
                     RabbitMQ definitions file for `rabbitmqctl import_definitions`, or as an \
                     AsyncAPI 3.0 document",
                )
                .arg(
                    clap::Arg::new("format")
                        .long("format")
                        .value_parser(["definitions", "asyncapi"])
                        .default_value("definitions")
                        .help("Output format"),
                ),
        )
        .after_help(environment_help(variables, defaults))
}

/// The `Environment:` section of `--help`.
pub(crate) fn environment_help(variables: &[Variable], defaults: &MainOptions) -> String {
    let width = variables.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut out = String::from("Environment (overrides the defaults of `worker::main!`):\n");
    for var in variables {
        let default = effective_default(var, defaults);
        let default = if default.is_empty() {
            String::new()
        } else {
            format!(" [default: {default}]")
        };
        out.push_str(&format!("  {:<width$}  {}{default}\n", var.name, var.help));
    }
    out
}

/// The default a variable has in this program: `main!`'s, else the
/// built-in one; URLs with their password masked.
fn effective_default(var: &Variable, defaults: &MainOptions) -> String {
    let from_main = var.main_option.and_then(|o| defaults.get(o));
    mask_url(&from_main.unwrap_or_else(|| var.default.to_owned()))
}

/// Parses the arguments after the program name; `Err` is clap's message
/// (help and version included) with its exit code.
pub(crate) fn parse_args(
    bin: &str,
    program: Program,
    defaults: &MainOptions,
    backends: &Backends,
    args: &[String],
) -> Result<Command, clap::Error> {
    let matches = command(bin, program, defaults, &backends.variables())
        .try_get_matches_from(std::iter::once(bin.to_owned()).chain(args.iter().cloned()))?;
    Ok(match matches.subcommand() {
        None => Command::Run,
        Some(("routes", _)) => Command::Routes,
        Some(("check", m)) if m.get_flag("drift") => Command::CheckDrift,
        Some(("check", _)) => Command::Check,
        Some(("topology", m)) => match m.get_one::<String>("format").map(String::as_str) {
            Some("definitions") | None => Command::Topology(TopologyFormat::Definitions),
            Some("asyncapi") => Command::Topology(TopologyFormat::AsyncApi),
            Some(other) => unreachable!("format `{other}` is not accepted by the parser"),
        },
        Some((other, _)) => unreachable!("subcommand `{other}` is not declared"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM: Program = Program {
        name: "my-worker",
        version: "1.2.3",
    };

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse_args(
            "my-worker",
            PROGRAM,
            &MainOptions::default(),
            &Backends::new(),
            &args,
        )
    }

    #[test]
    fn subcommands_and_unknown_arguments() {
        assert_eq!(parse(&[]).unwrap(), Command::Run);
        assert_eq!(parse(&["routes"]).unwrap(), Command::Routes);
        assert_eq!(parse(&["check"]).unwrap(), Command::Check);
        assert_eq!(parse(&["check", "--drift"]).unwrap(), Command::CheckDrift);
        for args in [&["topology"][..], &["topology", "--format", "definitions"]] {
            assert_eq!(
                parse(args).unwrap(),
                Command::Topology(TopologyFormat::Definitions)
            );
        }
        let e = parse(&["topology", "--format", "yaml"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .contains("possible values: definitions, asyncapi"),
            "{e}"
        );
        assert_eq!(
            parse(&["topology", "--format", "asyncapi"]).unwrap(),
            Command::Topology(TopologyFormat::AsyncApi)
        );
        let e = parse(&["serve"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().contains("unrecognized subcommand 'serve'"),
            "{e}"
        );
        let e = parse(&["check", "--colour"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = parse(&["chekc"]).unwrap_err();
        assert!(
            e.to_string().contains("similar subcommand exists: 'check'"),
            "{e}"
        );
    }

    #[test]
    fn help_and_version_exit_zero() {
        for flag in ["--help", "-h", "help"] {
            let e = parse(&[flag]).unwrap_err();
            assert_eq!(e.exit_code(), 0, "{flag}");
            let text = e.render().to_string();
            assert!(text.contains("routes") && text.contains("check"), "{text}");
        }
        let e = parse(&["--version"]).unwrap_err();
        assert_eq!(e.exit_code(), 0);
        assert_eq!(
            e.render().to_string().trim(),
            format!(
                "my-worker 1.2.3 (worker-framework {})",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn the_help_lists_every_variable_with_the_effective_default() {
        let defaults = MainOptions {
            amqp: Some("amqp://app:s3cret@rabbit:5672/%2f"),
            bulk_flush_interval: Some(std::time::Duration::from_secs(5)),
            ..Default::default()
        };
        let text = command("my-worker", PROGRAM, &defaults, crate::config::VARIABLES)
            .render_help()
            .to_string();
        for var in crate::config::VARIABLES {
            assert!(
                text.contains(var.name),
                "{} missing from:\n{text}",
                var.name
            );
        }
        assert!(
            text.contains("[default: amqp://app:****@rabbit:5672/%2f]"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("[default: 5s]"), "{text}");
        assert!(
            text.contains("[default: 128]"),
            "the built-in prefetch: {text}"
        );
        assert!(text.contains("[default: info]"), "{text}");
    }
}
