//! `cargo xtask fuzz`: cargo-fuzz targets in `fuzz/` (its own workspace, so libfuzzer-sys
//! never enters the main lockfile). Target bodies are plain functions in `fuzz/src/lib.rs`;
//! `fuzz/tests/replay.rs` replays `fuzz/corpus/*` on stable.

use std::process::Command;

fn fuzz_dir() -> std::path::PathBuf {
    crate::root().join("fuzz")
}

/// Target names: the `[[bin]]` names of fuzz/Cargo.toml.
fn targets() -> crate::Result<Vec<String>> {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml"))
        .map_err(|e| format!("fuzz/Cargo.toml: {e}"))?;
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(value) = line.strip_prefix("name") {
            names.push(
                value
                    .trim_start_matches([' ', '='])
                    .trim()
                    .trim_matches('"')
                    .to_owned(),
            );
        }
    }
    Ok(names)
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        })
}

pub(crate) fn run(args: &[String]) -> crate::Result {
    let all = targets()?;
    let mut target = None;
    let mut time = 60u64;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--time" => {
                time = it
                    .next()
                    .and_then(|t| t.parse().ok())
                    .ok_or("--time needs a number of seconds")?
            }
            t if !t.starts_with('-') && target.is_none() => target = Some(t.to_owned()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let Some(target) = target else {
        println!("fuzz targets (cargo xtask fuzz TARGET [--time SECS]):");
        for name in &all {
            println!("  {name}");
        }
        return Ok(());
    };
    if !all.contains(&target) {
        return Err(format!("no fuzz target {target:?}; targets: {all:?}"));
    }
    if !Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let mut install = crate::cargo();
        install.args(["install", "cargo-fuzz", "--locked"]);
        crate::run("install cargo-fuzz", install)?;
    }
    let mut cmd = if has_nightly() {
        // rustup picks the nightly toolchain; the sanitizers need it.
        let mut c = Command::new("rustup");
        c.args(["run", "nightly", "cargo", "fuzz", "run"]);
        c
    } else {
        eprintln!("xtask: no nightly toolchain; fuzzing without sanitizers (--sanitizer none)");
        let mut c = Command::new("cargo");
        c.args(["fuzz", "run", "--sanitizer", "none"]);
        c
    };
    // libFuzzer writes new inputs into its first corpus folder: a scratch one, so the
    // committed seed corpus (read as the second) stays small and reviewed.
    let scratch = fuzz_dir().join("target/corpus").join(&target);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("create {}: {e}", scratch.display()))?;
    cmd.current_dir(crate::root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .arg(&target)
        .args(RELEASE_ONLY.contains(&target.as_str()).then_some("-O"))
        .arg(&scratch)
        .arg(fuzz_dir().join("corpus").join(&target))
        .args(["--features", "libfuzzer", "--"])
        .arg(format!("-max_total_time={time}"));
    crate::run(&format!("fuzz {target}"), cmd)
}

/// Targets built without debug assertions and overflow checks (`cargo fuzz run -O`), as
/// released binaries are: matroska-demuxer 0.8.1 negates a block's i16 timestamp with
/// `abs`, which overflows on −32768; it is generic over the reader, so its code is built
/// with our crate's overflow checks and panics there (the pipeline catches that panic and
/// reports the file as malformed; without the checks the crate itself returns an error).
/// libFuzzer's panic hook aborts before any catch, so the target would stop at that
/// upstream bug on every run.
const RELEASE_ONLY: &[&str] = &["mkv_input"];

/// Checks the fuzz workspace (fmt, clippy) and replays every corpus file through the
/// target bodies (stable, no libFuzzer).
pub(crate) fn replay() -> crate::Result<crate::Counts> {
    let manifest = fuzz_dir().join("Cargo.toml");
    // The fuzz workspace is outside the main one's `fmt --all` and `clippy --workspace`.
    let mut fmt = crate::cargo();
    fmt.args(["fmt", "--check", "--manifest-path"])
        .arg(&manifest);
    crate::run("rustfmt (fuzz)", fmt)?;
    // The main target dir: the crates under test are already built there.
    let target = crate::root().join("target");
    let mut clippy = crate::cargo();
    clippy
        .args(["clippy", "--all-targets", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target);
    clippy.args(["--", "-D", "warnings"]);
    crate::run("clippy (fuzz)", clippy)?;
    let mut test = crate::cargo();
    test.arg("test")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target);
    crate::run_tests("fuzz-corpus replay", test)
}
