//! `pipeline record CONFIG.toml`: many cameras from one file (the `nvr` crate), and
//! `pipeline record --check CONFIG.toml`: the file checked, every problem on a line of its
//! own with its line and column. SIGHUP re-reads the file and restarts only the cameras
//! that changed; Ctrl-C or SIGTERM stops (every current segment finalized).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Record many cameras from one TOML file (see the nvr crate's README for the keys).
#[derive(Debug, Parser)]
#[command(name = "pipeline record", version, about, long_about = None)]
struct RecordCli {
    /// The configuration file.
    config: PathBuf,
    /// Only check the file: print every problem with its line, exit 1 if any.
    #[arg(long)]
    check: bool,
    /// More logs (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
}

/// Runs `pipeline record` with `args` (the program name first, `record` second).
pub(crate) fn main(args: Vec<OsString>) -> ExitCode {
    let mut args = args;
    args.remove(1);
    let cli = RecordCli::parse_from(args);
    if cli.check {
        return check(&cli);
    }
    init_logs(&cli);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(record(&cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipeline: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn check(cli: &RecordCli) -> ExitCode {
    match nvr::Config::load(&cli.config) {
        Ok(config) => {
            println!(
                "{}: ok, {} camera(s): {}",
                cli.config.display(),
                config.cameras.len(),
                config
                    .cameras
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(nvr::Error::Invalid { path, problems }) => {
            for p in problems {
                eprintln!("{}:{}:{}: {}", path.display(), p.line, p.column, p.message);
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pipeline: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn record(cli: &RecordCli) -> anyhow::Result<()> {
    let config = nvr::Config::load(&cli.config)?;
    tracing::info!(
        cameras = config.cameras.len(),
        root = %config.store.root.display(),
        "recording"
    );
    let mut nvr = nvr::Nvr::start(config)?;
    loop {
        tokio::select! {
            () = crate::stop_signal() => break,
            () = hangup() => {
                match nvr::Config::load(&cli.config) {
                    Ok(new) => { nvr.reload(new).await; }
                    // A broken file keeps the cameras running as they are.
                    Err(e) => tracing::error!("reload refused, the cameras go on unchanged: {e}"),
                }
            }
        }
    }
    tracing::info!("stopping: finishing every camera's segment");
    nvr.stop().await;
    Ok(())
}

/// The next SIGHUP (never on other platforms).
async fn hangup() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            hup.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

fn init_logs(cli: &RecordCli) {
    use tracing_subscriber::EnvFilter;
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
}

/// Recover files a kill left behind (fragmented MP4: cut after the last complete fragment
/// and renamed; plain MP4 rebuilt from its index journal NAME.partial.idx).
#[derive(Debug, Parser)]
#[command(name = "pipeline recover", version, about, long_about = None)]
struct RecoverCli {
    /// The NAME.partial files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Runs `pipeline recover` with `args` (the program name first, `recover` second).
pub(crate) fn recover_main(args: Vec<OsString>) -> ExitCode {
    let mut args = args;
    args.remove(1);
    let cli = RecoverCli::parse_from(args);
    let mut failed = false;
    for file in &cli.files {
        match nvr::recovery::recover(file) {
            Ok(r) => match &r.plain {
                Some(p) => println!(
                    "{}: rebuilt from its index journal, {} sample(s) kept, {} not wholly on disk dropped",
                    r.path.display(),
                    p.samples,
                    p.lost_samples
                ),
                None if r.clusters > 0 => println!(
                    "{}: {} complete cluster(s) kept, {} byte(s) of an incomplete one dropped",
                    r.path.display(),
                    r.clusters,
                    r.dropped_bytes
                ),
                None => println!(
                    "{}: {} complete fragment(s) kept, {} byte(s) of an incomplete one dropped",
                    r.path.display(),
                    r.fragments,
                    r.dropped_bytes
                ),
            },
            Err(e) => {
                eprintln!("pipeline: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
