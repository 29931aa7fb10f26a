//! `cargo xtask`: the workspace's developer commands (see `cargo xtask help`).

mod api;
mod bench;
mod demo;
mod fixtures;
mod fuzz;
mod package;
mod peers;
mod python;

use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <COMMAND>

Commands:
  test                 install missing test peers (as root), then fmt check, clippy -D warnings,
                       rustdoc -D warnings, the API snapshots, `cargo package`, all tests with
                       REQUIRE_PEERS=1, the Python bindings' pytest suite (wheel built by maturin
                       into target/python-venv), benches as a smoke run, fuzz-corpus replay
  api [--bless]        compare each library crate's public API with api/<crate>.txt; --bless
                       rewrites the snapshots (commit them with the change that made them)
  package              build each library crate from its package (as crates.io would ship it);
                       check it holds its README and licences and resolves our crates to ours
  fuzz [TARGET] [--time SECS]
                       list fuzz targets, or run one with cargo-fuzz (installed when missing)
  bench [CRATE] [-- CRITERION ARGS] | bench --table
                       run the criterion benches and print one Markdown table of every result
                       (ours vs peer or ceiling, spread, load) and a list of rows behind a peer;
                       --table prints it for the results already on disk (> BENCHMARKS.md)
  demo                 record 10 s from the local GStreamer test camera to demo.mp4
  fixtures             make the small media fixtures in fixtures/ with ffmpeg and lame
  peers                check the test peers; install the missing ones when root
  pytest               build the Python bindings (crates/pipeline-py) into target/python-venv
                       and run their pytest suite (a step of `test`)
  pybench              the Python bindings' read-loop bench (optimized wheel): packets/s, 720p numpy frames/s
                       through RawOutput.read() from Python vs the same loop in Rust
  help                 this text
";

/// A failed step, with the message to print.
type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    // `xtask api` runs cargo with xtask itself as RUSTDOC.
    if let Some(code) = api::as_rustdoc() {
        return code;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match command {
        "test" => test(rest),
        "api" => api::run_command(rest),
        "package" => package::check(),
        "fuzz" => fuzz::run(rest),
        "bench" => bench::run(rest),
        "demo" => demo::run(rest),
        "fixtures" => fixtures::make(),
        "peers" => peers::ensure(),
        "pytest" => python::test().map(|_| ()),
        "pybench" => python::bench(),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask's parent directory).
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent")
        .to_path_buf()
}

/// `cargo` as invoked us (`$CARGO`), else from PATH.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs a command, echoing it; an error names the failed step.
fn run(step: &str, mut cmd: Command) -> Result {
    eprintln!("\n==> {step}: {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// Test counts, summed from cargo test's `test result:` lines.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// Runs a `cargo test` command like [`run`], echoing its stdout while counting the tests.
fn run_tests(step: &str, mut cmd: Command) -> Result<Counts> {
    use std::io::BufRead;
    eprintln!("\n==> {step}: {cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    let mut counts = Counts::default();
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out)
            .lines()
            .map_while(std::result::Result::ok)
        {
            println!("{line}");
            // "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; ..."
            if let Some(rest) = line.strip_prefix("test result: ") {
                for part in rest.split(';') {
                    let mut words = part.split_whitespace().rev();
                    let (Some(what), Some(n)) = (words.next(), words.next()) else {
                        continue;
                    };
                    let n: u64 = n.parse().unwrap_or(0);
                    match what {
                        "passed" => counts.passed += n,
                        "failed" => counts.failed += n,
                        "ignored" => counts.ignored += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let status = child.wait().map_err(|e| format!("{step}: {e}"))?;
    if status.success() {
        Ok(counts)
    } else {
        Err(format!(
            "{step} failed ({status}); {} passed, {} failed",
            counts.passed, counts.failed
        ))
    }
}

fn test(args: &[String]) -> Result {
    if let Some(extra) = args.first() {
        return Err(format!("`xtask test` takes no arguments (got {extra:?})"));
    }
    peers::ensure()?;
    fixtures::check_present()?;

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run("rustfmt", fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]);
    run("clippy", clippy)?;

    // Broken intra-doc links, missing docs and bare URLs fail (the crates warn on
    // missing_docs; -D warnings makes every rustdoc warning an error).
    let mut docs = cargo();
    docs.args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings");
    run("rustdoc", docs)?;
    api::run_command(&[])?;
    package::check()?;

    let mut tests = cargo();
    tests
        .args(["test", "--workspace", "--all-features", "--no-fail-fast"])
        .env("REQUIRE_PEERS", "1");
    let mut counts = run_tests("tests", tests)?;

    // The Python bindings: one maturin build into a virtual environment, then pytest.
    counts += python::test()?;

    let mut benches = cargo();
    benches
        .args(["test", "--workspace", "--all-features", "--benches"])
        .env("REQUIRE_PEERS", "1");
    counts += run_tests("benches (smoke run)", benches)?;

    counts += fuzz::replay()?;
    eprintln!("\nxtask test: all steps passed");
    // The closing line CI reads: every test of every step.
    println!(
        "tests: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.ignored
    );
    Ok(())
}
