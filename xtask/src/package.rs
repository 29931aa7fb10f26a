//! The files a user of each library crate downloads: `cargo package --list` must hold the
//! manifest, the sources, the README and both licence texts (`license = "MIT OR
//! Apache-2.0"`). A full `cargo package` cannot run here: the crates depend on each other
//! and none is on a registry (cargo 1.95 resolves the packaged manifest's `version`
//! requirements against crates.io, where `media-core` is someone else's crate), and its
//! verification would build every crate again. The listing is what a registry would get.

use crate::api::LIBRARIES;
use crate::{Result, cargo};

/// Files every package must contain.
const REQUIRED: &[&str] = &[
    "Cargo.toml",
    "README.md",
    "LICENSE-MIT",
    "LICENSE-APACHE",
    "src/lib.rs",
];

pub fn check() -> Result {
    eprintln!(
        "\n==> cargo package --list for {} crate(s)",
        LIBRARIES.len()
    );
    let mut problems = String::new();
    for name in LIBRARIES {
        let out = cargo()
            .args(["package", "--list", "--allow-dirty", "-p", name])
            .output()
            .map_err(|e| format!("cargo package: cannot start: {e}"))?;
        if !out.status.success() {
            problems.push_str(&format!(
                "  {name}: cargo package --list failed: {}\n",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            continue;
        }
        let listing = String::from_utf8_lossy(&out.stdout);
        let files: Vec<&str> = listing.lines().collect();
        for required in REQUIRED {
            if !files.contains(required) {
                problems.push_str(&format!(
                    "  {name}: the package has no {required} (crates/{name}/{required}; licences are \
                     symlinks to the workspace root's)\n"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("packages are missing files:\n{problems}"))
    }
}
