//! The generated binary's command line: run (default), `routes`, `check`,
//! `help`, `--help`, `--version`. `worker::main!` calls [`main`] with the
//! program's defaults and the backends compiled in.

mod asyncapi;
mod check;
mod command;
mod drift;
mod routes;
mod stack;
mod topology;

use std::time::Duration;

use crate::config::{Config, MainOptions};
use crate::registry;
use crate::runtime::{Backends, Runtime};

pub use asyncapi::asyncapi;
pub use check::{check, check_drift};
pub use command::Program;
pub(crate) use command::{parse_args, Command, TopologyFormat};
pub use routes::route_table;
pub use stack::THREAD_STACK;
pub(crate) use stack::{reserve_thread_stack, runtime_thread_stack};
pub use topology::definitions;

pub use crate::config::binary_name;

/// Entry point of `worker::main!`: parses the command line, builds the
/// runtime over `backends` and runs the command. Returns the process exit
/// code.
pub fn main(options: MainOptions, program: Program, backends: Backends) -> i32 {
    reserve_thread_stack();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin = binary_name().unwrap_or_else(|| program.name.to_owned());
    let command = match parse_args(&bin, program, &options, &backends, &args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    if command == Command::Routes {
        let routes = registry::routes();
        if routes.is_empty() {
            eprintln!("error: {}", crate::runtime::NO_ROUTES);
            return 1;
        }
        print!("{}", route_table(&routes));
        return 0;
    }
    let config = match Config::from_env(&options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if let Command::Topology(format) = command {
        let routes = registry::routes();
        let declarations = registry::declarations();
        let doc = match format {
            TopologyFormat::Definitions => definitions(&routes, &declarations, &config),
            TopologyFormat::AsyncApi => Ok(asyncapi(&routes, &declarations, &config, program)),
        };
        return match doc {
            Ok(doc) => {
                println!("{doc:#}");
                0
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        };
    }
    if let Err(e) = crate::logging::init(&config) {
        eprintln!("error: {e}");
        return 1;
    }
    let runtime = Runtime::builder(config).backends(backends).build();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(runtime_thread_stack())
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
        Command::CheckDrift => rt.block_on(check_drift(&runtime)),
        _ => match rt.block_on(runtime.run()) {
            Ok(()) => 0,
            Err(e) => {
                // One line, in the log's format (the log is on stderr).
                tracing::error!("{e:#}");
                1
            }
        },
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    // Spans still buffered go out before the process ends.
    crate::otel::shutdown();
    code
}
