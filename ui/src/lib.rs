//! Compile-time behaviour of the framework's macros, tested with trybuild
//! in `tests/ui.rs`; this library is empty.
#![forbid(unsafe_code)]
