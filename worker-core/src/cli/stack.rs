//! The stack size of the process's threads, sized for the deepest frame a
//! broker connection may parse.
//!
//! lapin parses every AMQP frame on its own I/O thread with
//! amq-protocol's recursive parser, which has no depth limit: a header of
//! arrays inside arrays costs 5 bytes a level on the wire and, measured
//! with amq-protocol 10.6, up to 1.8 KiB of stack a level in a release
//! build, 10 KiB in a debug build, and between 13 and 27 KiB in a debug
//! build that optimizes the AMQP client at `opt-level = 2` (what this
//! workspace's own test profile does: 26 000 levels overflowed 320 MiB
//! and passed in 700 MB). A frame of [`AMQP_FRAME_MAX`] bytes
//! (the most the worker negotiates) can so nest 26 000 levels, well past
//! the 2 MiB that threads get by default. Dropping or cloning such a
//! value recurses too, on whichever thread holds it. The stack is
//! therefore sized from the frame limit for every thread: lapin's I/O
//! thread and the tokio runtime's. Stacks are reserved address space, not
//! memory: only the pages a thread touches are ever allocated.

use crate::broker::AMQP_FRAME_MAX;

/// Stack bytes per byte of frame: twice the measured 296 (release) and
/// about 1.5 times the most measured in a debug build (5 400, with the
/// AMQP client at `opt-level = 2`).
const STACK_PER_FRAME_BYTE: usize = if cfg!(debug_assertions) { 8192 } else { 512 };

/// The stack every thread of the process gets: 64 MiB in a release build,
/// 1 GiB in a debug build.
pub const THREAD_STACK: usize = AMQP_FRAME_MAX as usize * STACK_PER_FRAME_BYTE;

/// Makes [`THREAD_STACK`] the default stack of threads spawned without
/// an explicit size (lapin's I/O thread among them), unless
/// `RUST_MIN_STACK` already asks for more. The standard library reads
/// `RUST_MIN_STACK` once, at the first such spawn, so this must run
/// before any thread starts: the first thing `worker::main!` does.
pub(crate) fn reserve_thread_stack() {
    let asked = std::env::var("RUST_MIN_STACK")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if asked.is_none_or(|asked| asked < THREAD_STACK) {
        std::env::set_var("RUST_MIN_STACK", THREAD_STACK.to_string());
    }
}

/// The stack of the tokio runtime's threads: [`THREAD_STACK`], or what
/// `RUST_MIN_STACK` asks for if that is more.
pub(crate) fn runtime_thread_stack() -> usize {
    std::env::var("RUST_MIN_STACK")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(THREAD_STACK, |asked| asked.max(THREAD_STACK))
}
