//! A small tmpfs mounted for one test: a real full disk (`ENOSPC`) for the writers'
//! failure paths. Mounting needs root (or CAP_SYS_ADMIN); elsewhere the test skips loudly,
//! and fails under `REQUIRE_PEERS`/CI like a missing peer.

use std::path::Path;
use std::process::{Command, Stdio};

/// A tmpfs of a fixed size on a fresh temporary directory, unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel) for `test`. Returns
    /// `None` after a loud SKIPPED line when mounting is not possible; panics instead when
    /// peers are required.
    pub fn mount(test: &str, bytes: u64) -> Option<Self> {
        let dir = crate::temp_dir();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes},mode=0755"))
            .arg("tmpfs")
            .arg(dir.path())
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                let msg = format!("cannot mount a tmpfs (needs root): {why}");
                if crate::peers_required() {
                    panic!("{test}: {msg} (REQUIRE_PEERS is set, so this is a failure)");
                }
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n!!!!!!!! SKIPPED {test}: {msg} !!!!!!!!\n"
                );
                None
            }
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so a file a killed child still holds open cannot keep it mounted.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .status();
    }
}
