//! Per-command latency and throughput of the matching core on the benchmark mix.
//!
//! `cargo run --release -p book --example latency [COMMANDS]` (default 2,000,000).
//! Two passes over the same replayed stream on fresh copies of one warmed book: one untimed
//! per command for throughput, one with a timestamp around every `apply` for percentiles.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use book::*;

/// Counts heap allocations, to show how many the matching core makes per command once warm.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[path = "../benches/workload/mod.rs"]
mod workload;

fn main() {
    let commands: usize = std::env::args().nth(1).map_or(2_000_000, |arg| arg.parse().unwrap_or_else(|_| panic!("COMMANDS: {arg}")));
    let workload = workload::generate(42, commands);
    let warmed = workload::warmed_book(&workload);
    describe(&workload, &warmed);
    throughput(&workload, warmed.clone());
    latencies(&workload, warmed);
}

fn describe(workload: &workload::Workload, warmed: &Book) {
    let mut book = warmed.clone();
    let (mut events, mut counts) = (Vec::with_capacity(64), [0u64; 6]);
    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
    for command in &workload.mixed {
        counts[kind_of(command)] += 1;
        if book.apply(command, &mut events).is_ok() && events.iter().any(|e| matches!(e, Event::Fill { .. })) {
            counts[5] += 1;
        }
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    let share = |n: u64| 100.0 * n as f64 / workload.mixed.len() as f64;
    println!("warm book: {} resting orders, {} accounts", warmed.len(), workload::ACCOUNTS);
    println!(
        "mix of {} commands: limit {:.1} %, ioc {:.1} %, cancel {:.1} %, amend {:.1} %, reference {:.2} %; commands that traded {:.1} %; final book {} orders",
        workload.mixed.len(),
        share(counts[0]),
        share(counts[1]),
        share(counts[2]),
        share(counts[3]),
        share(counts[4]),
        share(counts[5]),
        book.len()
    );
    println!(
        "heap allocations in the book while applying the mix: {allocations} ({:.4} per command)",
        allocations as f64 / workload.mixed.len() as f64
    );
}

fn throughput(workload: &workload::Workload, mut book: Book) {
    let mut events = Vec::with_capacity(64);
    let start = Instant::now();
    for command in &workload.mixed {
        let _ = book.apply(command, &mut events);
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "throughput: {:.2} M commands/s ({:.0} ns/command)",
        workload.mixed.len() as f64 / seconds / 1e6,
        seconds * 1e9 / workload.mixed.len() as f64
    );
}

const KINDS: [&str; 5] = ["limit", "ioc", "cancel", "amend", "reference"];

fn kind_of(command: &Command) -> usize {
    match command {
        Command::Place(order) if order.kind == OrderKind::Limit => 0,
        Command::Place(_) => 1,
        Command::Cancel { .. } => 2,
        Command::Amend { .. } => 3,
        _ => 4,
    }
}

fn latencies(workload: &workload::Workload, mut book: Book) {
    let mut events = Vec::with_capacity(64);
    let mut all: Vec<u64> = Vec::with_capacity(workload.mixed.len());
    let mut by_kind: Vec<Vec<u64>> = KINDS.iter().map(|_| Vec::with_capacity(workload.mixed.len())).collect();
    for command in &workload.mixed {
        let start = Instant::now();
        let _ = book.apply(command, &mut events);
        let nanos = start.elapsed().as_nanos() as u64;
        all.push(nanos);
        by_kind[kind_of(command)].push(nanos);
    }
    report("all", &mut all);
    for (name, nanos) in KINDS.iter().zip(&mut by_kind) {
        report(name, nanos);
    }
    histogram(&all);
}

fn report(name: &str, nanos: &mut [u64]) {
    if nanos.is_empty() {
        return;
    }
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize];
    println!(
        "latency {name:>9} (ns, {:>7} commands, timestamps included): p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {}",
        nanos.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(0.999),
        at(0.9999),
        nanos[nanos.len() - 1]
    );
}

/// Commands per power-of-two latency bucket.
fn histogram(sorted: &[u64]) {
    let mut buckets = [0u64; 64];
    for nanos in sorted {
        buckets[63 - nanos.max(&1).leading_zeros() as usize] += 1;
    }
    println!("histogram (ns bucket: commands):");
    for (bit, count) in buckets.iter().enumerate().filter(|(_, count)| **count > 0) {
        println!("  [{:>9}, {:>9}): {count}", 1u64 << bit, 1u64 << (bit + 1));
    }
}
