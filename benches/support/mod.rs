//! What the benchmark programs share: their arguments, medians, and (for
//! the AMQP ones) publishing with lapin as fast as it goes while still
//! waiting for every confirm. Each program uses part of it.

#![allow(dead_code)]
// Included by several test or bench programs (`mod common;`): `pub` here
// shares items between files of one program, it is not an API.
#![allow(unreachable_pub)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Consumer};

/// A benchmark program's arguments (after the program name).
pub struct Args(Vec<String>);

impl Args {
    /// The arguments of a run by `cargo bench` (which passes `--bench`).
    /// `cargo test --all-targets` runs the program without it: a benchmark
    /// is not a test, so this says what the program is, naming `script`,
    /// and returns `None`.
    pub fn of_bench(program: &str, script: &str) -> Option<Args> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--bench") {
            Some(Args(args))
        } else {
            println!("benches/{program}.rs is a benchmark: run it with scripts/{script}");
            None
        }
    }

    /// The number after `name` (`--messages 1000`).
    pub fn number(&self, name: &str) -> Option<u64> {
        let at = self.0.iter().position(|a| a == name)?;
        let value = self.0.get(at + 1)?;
        Some(
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not `{value}`")),
        )
    }

    /// The word after `name` (`--profile worker`).
    pub fn value(&self, name: &str) -> Option<&str> {
        let at = self.0.iter().position(|a| a == name)?;
        self.0.get(at + 1).map(String::as_str)
    }

    /// The comma-separated numbers after `name` (`--bulks 1,500`).
    pub fn numbers(&self, name: &str) -> Option<Vec<u64>> {
        let at = self.0.iter().position(|a| a == name)?;
        let value = self.0.get(at + 1)?;
        Some(
            value
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{name} takes numbers, not `{value}`"))
                })
                .collect(),
        )
    }

    /// Whether the flag `name` is given.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    assert!(!v.is_empty(), "the median of no samples");
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The raw lapin baseline's consumer: `prefetch` on `ch`, consuming
/// `queue` with manual acks.
pub async fn raw_consumer(ch: &Channel, queue: &str, prefetch: u16) -> Consumer {
    ch.basic_qos(prefetch, BasicQosOptions { global: false })
        .await
        .unwrap();
    ch.basic_consume(
        queue.into(),
        "raw".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap()
}

/// A runtime running only the routes `routes` of this program, on the
/// broker at `url` (plus `vars`), with `app` to stop it.
pub fn worker_runtime(
    routes: &[&str],
    url: &str,
    vars: &[(&str, String)],
    app: &worker::App,
) -> worker::runtime::Runtime {
    let vars = [("WORKER_AMQP_URL", url.to_owned())]
        .into_iter()
        .chain(vars.iter().map(|(k, v)| (*k, v.clone())));
    worker_testkit::runtime(routes, vars)
        .backends(worker::backends())
        .app(app.clone())
        .build()
}

/// Publishes `n` messages to `queue` on the default exchange, `body(i)`
/// for the i-th, with `props`; confirms are awaited 1000 at a time.
/// Puts `ch` in confirm mode.
pub async fn publish_confirmed(
    ch: &Channel,
    queue: &str,
    n: u64,
    props: BasicProperties,
    body: impl Fn(u64) -> String,
) {
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut pending = Vec::with_capacity(1000);
    for i in 0..n {
        let confirm = ch
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body(i).as_bytes(),
                props.clone(),
            )
            .await
            .unwrap();
        pending.push(confirm);
        if pending.len() == 1000 {
            for c in pending.drain(..) {
                c.await.unwrap();
            }
        }
    }
    for c in pending {
        c.await.unwrap();
    }
}

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting allocations (and reallocations): a
/// benchmark installs it with `#[global_allocator]` and reads
/// [`allocations`] around what it measures.
pub struct CountingAllocator;

// SAFETY: every call is forwarded to the system allocator unchanged.
#[allow(unsafe_code)] // a GlobalAlloc is unsafe by definition; it only forwards to System
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made so far by the process (with [`CountingAllocator`]
/// installed; 0 otherwise).
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}
