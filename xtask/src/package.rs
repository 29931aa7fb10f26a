//! The files a user of each library crate downloads: `cargo package --list` must hold the
//! manifest, the sources, the README and both licence texts (`license = "MIT OR
//! Apache-2.0"`).
//!
//! Why not `cargo package` itself: the workspace says `publish = false` (nothing is
//! published; `media-core` on crates.io is someone else's crate), and with that cargo 1.95
//! does not give the packaged crates a local registry of their workspace siblings: the
//! dependents' `version` requirements are looked up on crates.io and fail. With `publish`
//! allowed, `cargo package --workspace --no-verify` (minus the binaries and test-support)
//! packages all eleven libraries in about a minute; verifying would build each again.
//! The listing is the part that holds whichever way that decision goes.

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
