//! A worker binary that declares no route and links no crate that does:
//! what `routes`, `check` and running it say (the reliability suite's CLI
//! tests run it).

worker::main!();
