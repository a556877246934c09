//! The generated binary's command line: run (default), `routes`, `check`.

use std::time::Duration;

use crate::action::Action;
use crate::config::{Config, MainOptions};
use crate::registry::{self, Route, RouteKind};
use crate::runtime::{Runtime, RuntimeBuilder};

const HELP: &str = "\
USAGE:
    {bin} [COMMAND]

COMMANDS:
    (none)    run the worker until SIGINT/SIGTERM
    routes    print the route table (backend, source, options, handler, location)
    check     validate the configuration and the reachability of every
              connection and queue; exits non-zero with the reason
    help      print this help (also -h, --help)

ENVIRONMENT:
    WORKER_AMQP_URL          amqp://, amqps:// or memory:// (embedded broker)
    WORKER_AMQP_<NAME>_URL   URL of the connection named <name>
    WORKER_AMQP_PREFETCH     unacked messages per consumer (default 128)
    WORKER_FLUSH_TIMEOUT     default flush deadline of partial batches, seconds (default 60)
    WORKER_SHUTDOWN_TIMEOUT  time given to in-flight batches at shutdown (default 30s)
    WORKER_HTTP_ADDR         HTTP listen address, or `off` (default 127.0.0.1:8080)
    WORKER_LOG               tracing filter (default info)
    WORKER_LOG_FORMAT        pretty | json
";

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run the worker.
    Run,
    /// Print the route table.
    Routes,
    /// Validate and check reachability.
    Check,
    /// Print help.
    Help,
}

/// Parses the arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Run),
        [a] if a == "routes" => Ok(Command::Routes),
        [a] if a == "check" => Ok(Command::Check),
        [a] if a == "help" || a == "-h" || a == "--help" => Ok(Command::Help),
        [a, ..] => Err(format!(
            "unknown command `{a}`: expected `routes`, `check` or `--help` (no command runs the worker)"
        )),
    }
}

/// Entry point of `worker::main!`: parses the command line, builds the
/// runtime and runs the command. Returns the process exit code.
pub fn main(options: MainOptions, configure: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder) -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin = std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "worker".to_owned());
    let command = match parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n\n{}", HELP.replace("{bin}", &bin));
            return 2;
        }
    };
    if command == Command::Help {
        print!("{}", HELP.replace("{bin}", &bin));
        return 0;
    }
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

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&[]), Ok(Command::Run));
        assert_eq!(parse_args(&["routes".into()]), Ok(Command::Routes));
        assert_eq!(parse_args(&["check".into()]), Ok(Command::Check));
        assert_eq!(parse_args(&["--help".into()]), Ok(Command::Help));
        assert!(parse_args(&["serve".into()])
            .unwrap_err()
            .contains("unknown command `serve`"));
    }
}
