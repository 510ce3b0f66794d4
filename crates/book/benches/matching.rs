//! Matching throughput on the realistic mix of `workload` (one core, in memory).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

mod workload;

fn mixed(c: &mut Criterion) {
    let workload = workload::generate(42, 200_000);
    let warmed = workload::warmed_book(&workload);
    let mut group = c.benchmark_group("book");
    group.throughput(Throughput::Elements(workload.mixed.len() as u64));
    group.sample_size(20);
    group.bench_function("mixed_200k_commands", |b| {
        b.iter_batched_ref(
            || (warmed.clone(), Vec::with_capacity(64)),
            |(book, events)| {
                for command in &workload.mixed {
                    let _ = book.apply(command, events);
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, mixed);
criterion_main!(benches);
