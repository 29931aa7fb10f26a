//! The Rust side of the read-loop benchmark (`benches/read_loop.py`): the same pipeline
//! and the same loop as Python's `for packet in RawOutput()`, consumed in Rust, so the
//! two rates compare the binding's cost per packet on one build and one machine.

use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, raw};
use pyo3::prelude::*;

use crate::{error, runtime};

/// Reads every packet of `input` (looped for `duration` media seconds) through a raw
/// output of `capacity` in a Rust loop; returns (packets, payload bytes, wall seconds).
#[pyfunction]
#[pyo3(signature = (input, duration, capacity=64))]
// Default then fields: Options is becoming #[non_exhaustive] (no struct literal).
#[allow(clippy::field_reassign_with_default)]
pub(crate) fn _read_loop_in_rust(
    py: Python<'_>,
    input: &str,
    duration: f64,
    capacity: usize,
) -> PyResult<(u64, u64, f64)> {
    let runtime = runtime()?;
    let input = Endpoint::parse(input, Direction::Input).map_err(|e| error::to_py(&e))?;
    let mut options = Options::default();
    options.loop_input = true;
    options.duration = Some(Duration::from_secs_f64(duration.max(0.0)));
    py.detach(|| {
        let started = Instant::now();
        let (mut reader, output) = raw::output(capacity);
        let handle = {
            let _context = runtime.enter();
            pipeline::Pipeline::new(input, output)
                .with_options(options)
                .spawn()
        };
        let (mut packets, mut bytes) = (0u64, 0u64);
        for packet in reader.blocking_iter() {
            packets += 1;
            bytes += packet.data.len() as u64;
        }
        runtime
            .block_on(handle.wait())
            .map_err(|e| error::to_py(&e))?;
        Ok((packets, bytes, started.elapsed().as_secs_f64()))
    })
}
