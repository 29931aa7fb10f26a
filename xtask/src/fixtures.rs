//! `cargo xtask fixtures`: small deterministic media files in `fixtures/`, made by ffmpeg
//! and lame and committed (keep the total under ~2 MiB) so unit tests need no peer.
//!
//! Each area keeps its own list (`fixtures/video.rs`, `fixtures/mp3.rs`); a fixture is a
//! shell script run in `fixtures/` with `$OUT` set to its file name. Scripts may use
//! fixtures listed before them.

mod mp3;
mod ogg;
mod rtsp;
mod video;

use std::process::Command;

/// One fixture file and the script that makes it.
pub(crate) struct Fixture {
    /// File name under `fixtures/`.
    pub name: &'static str,
    /// `sh -c` script run in `fixtures/`, writing `$OUT`.
    pub script: &'static str,
}

fn all() -> impl Iterator<Item = &'static Fixture> {
    video::FIXTURES
        .iter()
        .chain(mp3::FIXTURES)
        .chain(rtsp::FIXTURES)
        .chain(ogg::FIXTURES)
}

fn dir() -> std::path::PathBuf {
    crate::root().join("fixtures")
}

/// Makes every fixture again (overwriting).
pub(crate) fn make() -> crate::Result {
    make_some(|_| true)
}

/// Makes the fixtures that are missing (used by `xtask test`, after the peers are present).
pub(crate) fn check_present() -> crate::Result {
    let dir = dir();
    make_some(|f| !dir.join(f.name).exists())
}

fn make_some(wanted: impl Fn(&Fixture) -> bool) -> crate::Result {
    let dir = dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut total = 0;
    for fixture in all() {
        if wanted(fixture) {
            let tmp = format!("{}.tmp", fixture.name);
            let mut cmd = Command::new("sh");
            cmd.args(["-ec", fixture.script])
                .current_dir(&dir)
                .env("OUT", &tmp);
            crate::run(&format!("fixture {}", fixture.name), cmd)?;
            std::fs::rename(dir.join(&tmp), dir.join(fixture.name))
                .map_err(|e| format!("{}: {e}", fixture.name))?;
        }
        total += std::fs::metadata(dir.join(fixture.name))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    eprintln!(
        "==> fixtures: {} files, {:.2} MiB in {}",
        all().count(),
        total as f64 / 1048576.0,
        dir.display()
    );
    Ok(())
}
