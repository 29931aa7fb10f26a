//! The Python bindings' step of `cargo xtask test` (and their bench): one maturin build of
//! `crates/pipeline-py` into a wheel, installed into a virtual environment under the target
//! directory, then its pytest suite.
//!
//! The build is maturin's default dev profile in the same target directory as the cargo
//! tests, so it reuses their compiled dependencies: only pyo3 and the binding crate are
//! new. The environment is made once (`--system-site-packages`, so it sees maturin, pytest
//! and LiveKit's packages that `cargo xtask peers` installs into PATH's python3) and
//! kept; the wheel is reinstalled each run.

use std::path::PathBuf;
use std::process::Command;

use crate::{Counts, Result, root, run};

/// The binding crate's manifest and its pytest suite, relative to the workspace root.
const MANIFEST: &str = "crates/pipeline-py/Cargo.toml";
const TESTS: &str = "crates/pipeline-py/tests";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                root().join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| root().join("target"))
}

/// Makes the environment when missing; returns its python.
fn venv() -> Result<PathBuf> {
    let dir = target_dir().join("python-venv");
    let python = dir.join("bin/python");
    if !python.is_file() {
        let mut make = Command::new("python3");
        make.args(["-m", "venv", "--system-site-packages"])
            .arg(&dir);
        run("python venv", make)?;
    }
    Ok(python)
}

/// Builds the wheel (`release`: optimized, for the bench) and installs it; returns the
/// environment's python.
pub(crate) fn install(release: bool) -> Result<PathBuf> {
    let python = venv()?;
    let wheels = target_dir().join(if release {
        "python-wheels-release"
    } else {
        "python-wheels"
    });
    // Only this build's wheel may be there when installing by glob below.
    if wheels.is_dir() {
        std::fs::remove_dir_all(&wheels).map_err(|e| format!("{}: {e}", wheels.display()))?;
    }
    // PATH's python3, where `cargo xtask peers` installed maturin (`-m maturin` finds its
    // program beside that interpreter, not in the environment).
    let mut build = Command::new("python3");
    build
        .args([
            "-m",
            "maturin",
            "build",
            "--manifest-path",
            MANIFEST,
            "--out",
        ])
        .arg(&wheels)
        .args(["--interpreter"])
        .arg(&python)
        .current_dir(root())
        .env("CARGO_TARGET_DIR", target_dir());
    if release {
        build.arg("--release");
    }
    run("maturin build (media_toolkit wheel)", build)?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| format!("{}: {e}", wheels.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| format!("maturin left no wheel in {}", wheels.display()))?;
    let mut install = Command::new(&python);
    install
        .args(["-m", "pip", "install", "--quiet", "--no-deps", "--no-index"])
        .args(["--force-reinstall"])
        .arg(&wheel);
    run("pip install (media_toolkit wheel)", install)?;
    Ok(python)
}

/// Builds and installs the package, then runs its pytest suite with `REQUIRE_PEERS=1`.
pub(crate) fn test() -> Result<Counts> {
    let python = install(false)?;
    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", TESTS, "-p", "no:cacheprovider", "-rs"])
        .current_dir(root())
        .env("REQUIRE_PEERS", "1");
    pytest_counts("pytest (crates/pipeline-py)", pytest)
}

/// Runs pytest, echoing its output, and counts from its closing line
/// ("=== 5 passed, 1 skipped in 3.21s ===").
fn pytest_counts(step: &str, mut cmd: Command) -> Result<Counts> {
    eprintln!("\n==> {step}: {cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let counts = parse_counts(&text);
    if out.status.success() {
        Ok(counts)
    } else {
        Err(format!(
            "{step} failed ({}); {} passed, {} failed",
            out.status, counts.passed, counts.failed
        ))
    }
}

fn parse_counts(text: &str) -> Counts {
    let mut counts = Counts::default();
    let Some(last) = text
        .lines()
        .rev()
        .find(|l| l.contains(" in ") && l.starts_with('='))
    else {
        return counts;
    };
    for part in last.trim_matches(|c: char| c == '=' || c == ' ').split(',') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let n: u64 = n.parse().unwrap_or(0);
        match what {
            "passed" => counts.passed += n,
            "failed" | "error" | "errors" => counts.failed += n,
            "skipped" | "xfailed" => counts.ignored += n,
            _ => {}
        }
    }
    counts
}

/// `cargo xtask pybench`: the wheel built optimized, then `benches/read_loop.py`
/// (packets per second through `RawOutput.read()` beside the same loop in Rust) and
/// `benches/numpy_frames.py` (720p numpy frames per second through `FrameOutput`).
pub(crate) fn bench() -> Result {
    let python = install(true)?;
    for (step, script) in [
        ("read-loop bench (crates/pipeline-py)", "read_loop.py"),
        ("numpy-frames bench (crates/pipeline-py)", "numpy_frames.py"),
    ] {
        let mut command = Command::new(&python);
        command
            .arg(root().join("crates/pipeline-py/benches").join(script))
            .current_dir(root());
        run(step, command)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_counts;

    #[test]
    fn counts_from_the_closing_line() {
        let c = parse_counts("x\n===== 5 passed, 1 skipped, 2 failed in 3.21s =====\n");
        assert_eq!((c.passed, c.failed, c.ignored), (5, 2, 1));
    }
}
