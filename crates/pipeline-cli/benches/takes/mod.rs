//! What the CLI's benches share. Each measures whole takes (a recording, a remux, a window
//! of viewers) itself and hands criterion the figure, so criterion's own warm-up and
//! measurement time are cut to nothing; `cargo test --benches` runs each as a short smoke
//! take, `cargo bench` (criterion's `--bench` argument) as the full one.
// Each bench target compiles this module; not every bench uses every helper.
#![allow(dead_code)]

use std::time::Duration;

use criterion::Criterion;

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
