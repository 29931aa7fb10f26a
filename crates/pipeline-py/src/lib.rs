//! `media_toolkit`: the pipeline from Python (PyO3, built into an abi3 wheel by maturin).
//!
//! The shape is Boombox's: `Pipeline(input, output, **options)` with the endpoint strings
//! of the `pipeline` CLI (or `raw` endpoint objects), `run()` or `start()` → a handle
//! with `wait()`, `close(wait=True, kill=False)`, `kill()` and `status`, usable as a
//! context manager. Media flows on a tokio runtime owned by the module while Python's
//! GIL is released; waiting wakes every 100 ms to let Python handle signals, so Ctrl-C
//! (`KeyboardInterrupt`) stops the pipeline gracefully (the output is finalized) before
//! it propagates.
//!
//! ```python
//! import media_toolkit as mt
//!
//! summary = mt.Pipeline("rtsp://cam/stream1", "camera.mp4", duration=10).run()
//! print(summary.files, summary.status.packets)
//! ```
//!
//! Errors are `MediaToolkitError` subclasses (module `error`) with the pipeline's one-line
//! messages, secrets masked. The crate's tests are the pytest suite in `tests/`, run by
//! `cargo xtask test` on a wheel built with maturin; its runnable example is
//! `examples/record.py`.

mod bench;
mod data;
mod error;
mod frames;
mod icecast;
mod options;
mod raw;
mod receive;
mod run;
mod stream_info;
mod stream_writer;

use std::sync::OnceLock;

use pyo3::prelude::*;

/// The tokio runtime every pipeline of the process runs on (two workers: sources and
/// network I/O; recorders run on its blocking pool). Built on first use.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("media-toolkit")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the media runtime: {e}"))
        })
        .as_ref()
        .map_err(|message| error::TransientError::new_err(message.clone()))
}

/// Media pipelines from Python: RTSP, MP4, HLS, MP3, Icecast and raw packets.
///
/// Pipeline(input, output, **options) runs media from one endpoint to another, with the
/// endpoint strings of the `pipeline` command line ("rtsp://…", "out.mp4", "hls/", "-",
/// "icecast://…", "tcp-listen://…"), RawInput / RawOutput objects for packets from and
/// to Python, or FrameInput / FrameOutput objects for decoded frames as numpy arrays.
/// DataStreamSender and DataStreamReceiver send and receive LiveKit-compatible data
/// streams.
#[pymodule]
fn media_toolkit(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    error::register(module)?;
    run::register(module)?;
    raw::register(module)?;
    frames::register(module)?;
    icecast::register(module)?;
    data::register(module)?;
    receive::register(module)?;
    stream_writer::register(module)?;
    module.add_function(wrap_pyfunction!(recover, module)?)?;
    module.add_function(wrap_pyfunction!(bench::_read_loop_in_rust, module)?)?;
    Ok(())
}

/// Rebuilds a killed plain MP4 from its index journal: recover("cam.mp4.partial",
/// "cam.mp4") writes cam.mp4 with every sample that reached the disk and returns how many
/// were kept. The journal is the partial file's name with ".idx" added.
#[pyfunction]
fn recover(
    py: Python<'_>,
    partial: std::path::PathBuf,
    target: std::path::PathBuf,
) -> PyResult<u64> {
    let journal = pipeline::journal_path(&partial);
    py.detach(|| pipeline::recover_plain(&partial, &journal, &target))
        .map(|recovered| recovered.samples)
        .map_err(|e| {
            error::PermanentError::new_err(format!("recovering {}: {e}", partial.display()))
        })
}
