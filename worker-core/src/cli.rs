//! The generated binary's command line (clap): run (default), `routes`,
//! `check`, `help`, `--help`, `--version`.

use std::time::Duration;

use crate::action::Action;
use crate::config::{self, mask_url, Config, MainOptions, Variable};
use crate::registry::{self, Route, RouteKind};
use crate::runtime::{Runtime, RuntimeBuilder};

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
pub enum Command {
    /// Run the worker.
    Run,
    /// Print the route table.
    Routes,
    /// Validate and check reachability.
    Check,
}

/// The command-line grammar: subcommands, `--help` and `--version`, with
/// the environment variables (generated from [`config::VARIABLES`], with
/// the defaults `main!` set) after the help.
pub fn command(bin: &str, program: Program, defaults: &MainOptions) -> clap::Command {
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
        .subcommand(clap::Command::new("check").about(
            "Validate the configuration and the reachability of every connection and queue; \
             exits non-zero with the reason",
        ))
        .after_help(environment_help(config::VARIABLES, defaults))
}

/// The `Environment:` section of `--help`.
pub fn environment_help(variables: &[Variable], defaults: &MainOptions) -> String {
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
    let from_main = match var.name {
        n if n == config::AMQP_URL.name => defaults.amqp.map(str::to_owned),
        n if n == config::AMQP_PREFETCH.name => defaults.prefetch.map(|p| p.to_string()),
        n if n == config::FLUSH_TIMEOUT.name => defaults
            .flush_timeout
            .map(|d| humantime::format_duration(d).to_string()),
        n if n == config::SHUTDOWN_TIMEOUT.name => defaults
            .shutdown_timeout
            .map(|d| humantime::format_duration(d).to_string()),
        n if n == config::HTTP_ADDR.name => defaults.http.map(str::to_owned),
        _ => None,
    };
    mask_url(&from_main.unwrap_or_else(|| var.default.to_owned()))
}

/// Parses the arguments after the program name; `Err` is clap's message
/// (help and version included) with its exit code.
pub fn parse_args(
    bin: &str,
    program: Program,
    defaults: &MainOptions,
    args: &[String],
) -> Result<Command, clap::Error> {
    let matches = command(bin, program, defaults)
        .try_get_matches_from(std::iter::once(bin.to_owned()).chain(args.iter().cloned()))?;
    Ok(match matches.subcommand_name() {
        None => Command::Run,
        Some("routes") => Command::Routes,
        Some("check") => Command::Check,
        Some(other) => unreachable!("subcommand `{other}` is not declared"),
    })
}

/// Entry point of `worker::main!`: parses the command line, builds the
/// runtime and runs the command. Returns the process exit code.
pub fn main(
    options: MainOptions,
    program: Program,
    configure: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder,
) -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin = std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| program.name.to_owned());
    let command = match parse_args(&bin, program, &options, &args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    if command == Command::Routes {
        print!("{}", route_table(&registry::routes()));
        return 0;
    }
    let config = match Config::from_env(&options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if let Err(e) = crate::telemetry::init(&config) {
        eprintln!("error: {e}");
        return 1;
    }
    let runtime = configure(Runtime::builder(config)).build();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return 1;
        }
    };
    let code = match command {
        Command::Check => rt.block_on(check(&runtime)),
        _ => match rt.block_on(runtime.run()) {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("error: {e}");
                1
            }
        },
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

/// `check`: validation, then every connection and queue.
pub async fn check(runtime: &Runtime) -> i32 {
    let mut failed = false;
    match runtime.validate() {
        Ok(warnings) => {
            for w in warnings {
                println!("warning: {w}");
            }
        }
        Err(e) => {
            println!("error: {e}");
            return 1;
        }
    }
    let connections = match runtime.connect() {
        Ok(c) => c,
        Err(e) => {
            println!("error: {e}");
            return 1;
        }
    };
    let mut by_conn: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for r in runtime.routes() {
        if let Some((name, vhost)) = crate::validate::connection_key(r) {
            let key = match vhost {
                Some(v) => format!("{name}/{v}"),
                None => name,
            };
            let o = r.amqp().expect("amqp route");
            if !o.declare {
                by_conn
                    .entry(key)
                    .or_default()
                    .extend(o.queues.iter().copied());
            } else {
                by_conn.entry(key).or_default();
            }
        }
    }
    for (key, queues) in by_conn {
        let conn = &connections[&key];
        let res = tokio::time::timeout(Duration::from_secs(10), conn.check_queues(&queues)).await;
        match res {
            Ok(Ok(())) => println!(
                "ok: connection `{key}` ({}), queues {:?}",
                conn.describe(),
                queues
            ),
            Ok(Err(e)) => {
                failed = true;
                println!("error: connection `{key}` ({}): {e}", conn.describe());
            }
            Err(_) => {
                failed = true;
                println!(
                    "error: connection `{key}` ({}): no answer within 10s",
                    conn.describe()
                );
            }
        }
        conn.close().await;
    }
    i32::from(failed)
}

/// The `routes` table.
pub fn route_table(routes: &[&'static Route]) -> String {
    let mut rows = vec![[
        "BACKEND".to_owned(),
        "SOURCE".to_owned(),
        "OPTIONS".to_owned(),
        "HANDLER".to_owned(),
        "LOCATION".to_owned(),
    ]];
    for r in routes {
        let (source, options) = describe(r);
        rows.push([
            r.kind.backend().to_owned(),
            source,
            options,
            r.path(),
            format!("{}:{}", r.location.file, r.location.line),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn describe(r: &Route) -> (String, String) {
    match &r.kind {
        RouteKind::Amqp { options: o, .. } => {
            let mut opts = vec![
                format!("bulk_size={}", o.bulk_size),
                format!("on_success={}", o.on_success),
                format!("on_exception={}", o.on_exception),
            ];
            if let Some(d) = o.bulk_flush_interval {
                opts.push(format!(
                    "bulk_flush_interval={}",
                    humantime::format_duration(d)
                ));
            }
            if o.max_concurrency != 1 {
                opts.push(format!("max_concurrency={}", o.max_concurrency));
            }
            if let Some(n) = o.max_retries {
                opts.push(format!("max_retries={n}"));
            }
            if let Some(d) = o.retry_backoff {
                opts.push(format!("retry_backoff={}", humantime::format_duration(d)));
            }
            if o.on_decode_error != Action::Reject {
                opts.push(format!("on_decode_error={}", o.on_decode_error));
            }
            if let Some(d) = o.dead_letter {
                opts.push(format!("dead_letter={d}"));
            }
            if let Some(c) = o.connection {
                opts.push(format!("connection={c}"));
            }
            if let Some(p) = o.prefetch {
                opts.push(format!("prefetch={p}"));
            }
            if let Some(v) = o.vhost {
                opts.push(format!("vhost={v}"));
            }
            if o.declare {
                opts.push("declare".to_owned());
            }
            if o.quorum {
                opts.push("quorum".to_owned());
            }
            (o.queues.join(","), opts.join(" "))
        }
        RouteKind::Every { options: o, .. } => (
            format!("every {}", humantime::format_duration(o.interval)),
            format!(
                "max_concurrency={} run_on_start={}",
                o.max_concurrency, o.run_on_start
            ),
        ),
        RouteKind::Http { options: o, .. } => (
            format!("{} {}", o.methods.join("|"), o.paths.join(",")),
            String::new(),
        ),
        RouteKind::Sse { options: o, .. } => {
            (o.url.to_owned(), format!("bulk_size={}", o.bulk_size))
        }
    }
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
        parse_args("my-worker", PROGRAM, &MainOptions::default(), &args)
    }

    #[test]
    fn subcommands_and_unknown_arguments() {
        assert_eq!(parse(&[]).unwrap(), Command::Run);
        assert_eq!(parse(&["routes"]).unwrap(), Command::Routes);
        assert_eq!(parse(&["check"]).unwrap(), Command::Check);
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
            prefetch: Some(1024),
            ..Default::default()
        };
        let text = command("my-worker", PROGRAM, &defaults)
            .render_help()
            .to_string();
        for var in config::VARIABLES {
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
        assert!(text.contains("[default: 1024]"), "{text}");
        assert!(text.contains("[default: /metrics]"), "{text}");
    }
}
