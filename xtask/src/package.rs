//! The packages a user of each library crate downloads, made by `cargo package`:
//!
//! 1. `cargo package --workspace` packages every library crate as crates.io would get it
//!    (path dependencies become version requirements, resolved against a local registry
//!    of the workspace's own packages) and builds each package from its tarball, as a
//!    user's first build would: a manifest that cannot be packaged, a file the package
//!    lacks or a dependency it resolves wrongly fails here. Measured on 2026-12-05: 5 min
//!    29 s for the 15 packages on two busy cores (the packages' own dependency feature
//!    sets rebuild some dependencies once).
//! 2. Each package must hold the manifest, the sources, the README and both licence texts
//!    (`license = "MIT OR Apache-2.0"`).
//! 3. Each package's lockfile must resolve our own crates to our own packages: where a
//!    name is taken on crates.io by an unrelated crate with a version that matches the
//!    requirement, a user's build would silently get that crate instead (see [`TAKEN`]).

use std::path::{Path, PathBuf};

use crate::api::LIBRARIES;
use crate::{Result, cargo, root};

/// Files every package must contain.
const REQUIRED: &[&str] = &[
    "Cargo.toml",
    "README.md",
    "LICENSE-MIT",
    "LICENSE-APACHE",
    "src/lib.rs",
];

/// Names of ours that an unrelated crates.io crate holds with a version our requirement
/// matches: (crate, why it is still so). The list may only shrink: a new clash fails.
/// Empty since the packages whose short names are taken on crates.io (`media-core`,
/// `mpeg-ts`, `pipeline`, …) were renamed `media-toolkit-*`, the library keeping its short
/// name (ARCHITECTURE.md, "Names"); a new crate's name is checked with `cargo info NAME`.
const TAKEN: &[(&str, &str)] = &[];

/// The workspace members that are not libraries people depend on.
const NOT_PACKAGED: &[&str] = &["media-toolkit-cli", "pipeline-py", "test-support", "xtask"];

pub fn check() -> Result {
    eprintln!(
        "\n==> cargo package --workspace ({} crates, each built from its tarball)",
        LIBRARIES.len()
    );
    forget_packages_built_before()?;
    let mut package = cargo();
    package.args(["package", "--workspace", "--allow-dirty", "--quiet"]);
    for name in NOT_PACKAGED {
        package.args(["--exclude", name]);
    }
    let out = package
        .output()
        .map_err(|e| format!("cargo package: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo package failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut problems = String::new();
    let mut clashes = Vec::new();
    for name in LIBRARIES {
        problems.push_str(&missing_files(name)?);
        problems.push_str(&foreign_siblings(name, &mut clashes)?);
    }
    for (taken, why) in TAKEN {
        if !clashes.iter().any(|c| c == taken) {
            problems.push_str(&format!(
                "  {taken} no longer resolves to another crate ({why}): remove it from TAKEN\n"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "packages are not what users would need:\n{problems}"
        ))
    }
}

/// Removes what cargo keeps of our packages from earlier runs. `cargo package` builds each
/// tarball against its siblings from a local registry in `target/package`; cargo unpacks
/// those under `$CARGO_HOME/registry/src/-<hash>/NAME-VERSION` and compiles them into
/// `target/debug`, and as a registry crate never changes under the same version, it
/// never unpacks or compiles one again. Ours stay 0.1.0 while their sources change, so a
/// later run built `media-toolkit-codec` against an older `media-toolkit-core` (no
/// `G711`) and failed in CI. Only local registries (`-<hash>`, not `index.crates.io-…`)
/// are touched, and only ours are in them.
fn forget_packages_built_before() -> Result {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    for registry in dir_entries(&home.join("registry/src")) {
        if file_name(&registry).starts_with('-') {
            for unpacked in dir_entries(&registry) {
                remove(&unpacked)?;
            }
        }
    }
    // A crate compiled from a local registry: its dep-info names sources unpacked there;
    // its outputs and fingerprint carry the same hash.
    let build = target_dir().join("debug");
    let hashes: Vec<String> = dir_entries(&build.join("deps"))
        .into_iter()
        .filter(|dep_info| {
            std::fs::read_to_string(dep_info).is_ok_and(|text| text.contains("/registry/src/-"))
        })
        .filter_map(|dep_info| {
            let name = file_name(&dep_info).strip_suffix(".d")?;
            Some(format!("-{}", name.rsplit_once('-')?.1))
        })
        .collect();
    for dir in ["deps", ".fingerprint"] {
        for built in dir_entries(&build.join(dir)) {
            if hashes
                .iter()
                .any(|h| file_name(&built).contains(h.as_str()))
            {
                remove(&built)?;
            }
        }
    }
    Ok(())
}

fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default()
}

fn remove(path: &Path) -> Result {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    removed.map_err(|e| format!("{}: cannot remove: {e}", path.display()))
}

/// The required files `name`'s package lacks, one line each.
fn missing_files(name: &str) -> Result<String> {
    let out = cargo()
        .args(["package", "--list", "--allow-dirty", "-p", name])
        .output()
        .map_err(|e| format!("cargo package: cannot start: {e}"))?;
    if !out.status.success() {
        return Ok(format!(
            "  {name}: cargo package --list failed: {}\n",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let listing = String::from_utf8_lossy(&out.stdout);
    let files: Vec<&str> = listing.lines().collect();
    Ok(REQUIRED
        .iter()
        .filter(|r| !files.contains(r))
        .map(|r| {
            format!(
                "  {name}: the package has no {r} (licences are symlinks to the workspace root's)\n"
            )
        })
        .collect())
}

/// Our crates that `name`'s packaged lockfile resolves to another crate than our package
/// (a checksum other than our `.crate`'s), except those in [`TAKEN`]; the names found
/// go to `clashes`.
fn foreign_siblings(name: &str, clashes: &mut Vec<String>) -> Result<String> {
    let tarball = crate_file(name)?;
    let stem = tarball
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    let out = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(&tarball)
        .arg(format!("{stem}/Cargo.lock"))
        .output()
        .map_err(|e| format!("tar: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!("{}: no Cargo.lock inside", tarball.display()));
    }
    let mut problems = String::new();
    for package in lock_packages(&String::from_utf8_lossy(&out.stdout)) {
        let field = |key: &str| package.get(key).map_or("", String::as_str);
        let dep = field("name");
        if !LIBRARIES.contains(&dep) || field("source").is_empty() {
            continue; // not ours, or the package itself
        }
        if field("checksum") == sha256(&crate_file(dep)?)? {
            continue;
        }
        clashes.push(dep.to_owned());
        if !TAKEN.iter().any(|(t, _)| *t == dep) {
            problems.push_str(&format!(
                "  {name}: its lockfile takes {dep} {} from crates.io, an unrelated crate of the same name: \
                 a user would build against it (rename ours, or list it in xtask/src/package.rs TAKEN)\n",
                field("version")
            ));
        }
    }
    Ok(problems)
}

/// The `[[package]]` entries of a Cargo.lock as key → value (its string fields; a lockfile
/// is simple enough that xtask needs no TOML parser at run time).
fn lock_packages(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut packages = Vec::new();
    for block in text.split("[[package]]").skip(1) {
        let fields = block
            .lines()
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split_once(" = "))
            .filter(|(_, v)| v.starts_with('"'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        packages.push(fields);
    }
    packages
}

/// `target/package/NAME-VERSION.crate`, the package cargo made.
fn crate_file(name: &str) -> Result<PathBuf> {
    let base = target_dir().join("package");
    let prefix = format!("{name}-");
    dir_entries(&base)
        .into_iter()
        .find(|p| {
            file_name(p)
                .strip_prefix(&prefix)
                .and_then(|f| f.strip_suffix(".crate"))
                .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
        })
        .ok_or_else(|| format!("no package of {name} in {}", base.display()))
}

fn sha256(file: &Path) -> Result<String> {
    let out = std::process::Command::new("sha256sum")
        .arg(file)
        .output()
        .map_err(|e| format!("sha256sum: cannot start: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| format!("sha256sum {}: no digest", file.display()))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_absolute() { d } else { root().join(d) })
        .unwrap_or_else(|| root().join("target"))
}
