//! What the CLI's benches share. Each measures whole takes (a recording, a remux, a window
//! of viewers) itself and hands criterion the figure, so criterion's own warm-up and
//! measurement time are cut to nothing; `cargo test --benches` runs each as a short smoke
//! take, `cargo bench` (criterion's `--bench` argument) as the full one.
// Each bench target compiles this module; not every bench uses every helper.
#![allow(dead_code)]

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};

/// Whether this is a real run (`cargo bench`), not the smoke run of `cargo test --benches`.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Criterion for figures measured by the bench itself: 10 samples, no warm-up of its own.
/// Made from the arguments first: criterion exits on bad ones, before any server starts.
pub fn criterion() -> Criterion {
    Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1))
}

/// A whole-number setting from the environment (`PIPELINE_BENCH_SECONDS`, …), else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Hands criterion figures the bench measured itself: in `group`, one row per name, each
/// sample one of its figures (cycling); `elements` is the group's throughput (media
/// seconds for a `cpu` group), if any. Criterion sizes `iters` from how long the closure
/// takes: the 2 ms pause makes it one warm-up call and ten sample calls of one iteration.
pub fn report(
    c: &mut Criterion,
    group: &str,
    elements: Option<u64>,
    rows: Vec<(String, Vec<Duration>)>,
) {
    let mut group = c.benchmark_group(group);
    group.sampling_mode(SamplingMode::Flat);
    if let Some(n) = elements {
        group.throughput(Throughput::Elements(n));
    }
    for (name, figures) in rows {
        if figures.is_empty() {
            continue;
        }
        let mut next = figures.into_iter().cycle();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                std::thread::sleep(Duration::from_millis(2));
                next.next().unwrap_or_default() * u32::try_from(iters).unwrap_or(1)
            })
        });
    }
    group.finish();
}

/// Counts to measure from a comma-separated variable (`PIPELINE_BENCH_CLIENTS=1,8`), else
/// `default`.
pub fn env_counts(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}
