//! `cargo xtask api [--bless]`: the public API of each library crate, compared with the
//! snapshot checked in as `api/<crate>.txt`, so that a change to a crate's API shows up as
//! a diff in review and is deliberate. `cargo xtask test` runs the comparison; `--bless`
//! writes the snapshots anew.
//!
//! The API is read from rustdoc's JSON output by the `public-api` crate (one line per
//! item, with its full signature). Rustdoc JSON is unstable, so the toolchain that builds
//! the workspace runs it with `RUSTC_BOOTSTRAP` set for the rustdoc process only: xtask
//! itself stands in as `RUSTDOC` ([`as_rustdoc`]). Setting it for all of cargo instead
//! would rebuild the dependencies whose build scripts watch that variable, and a nightly
//! toolchain would build every dependency once more: either would add minutes to CI.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{Result, cargo, root, run};

/// The library crates whose API is kept (test-support is internal; binaries have none).
pub const LIBRARIES: &[&str] = &[
    "media-toolkit-core",
    "bmff-writer",
    "mp3-frames",
    "rtsp-source",
    "media-toolkit-data-stream",
    "media-toolkit-remote",
    "icecast-source",
    "elementary",
    "media-toolkit-mpeg-ts",
    "media-toolkit-flv",
    "media-toolkit-matroska",
    "rtp-media",
    "media-toolkit-codec",
    "whip-whep",
    "media-toolkit-rtsp-server",
    "media-toolkit-pipeline",
    "media-toolkit-nvr",
];

/// Set when xtask runs as cargo's `RUSTDOC`: the real rustdoc to run.
const REAL_RUSTDOC: &str = "XTASK_REAL_RUSTDOC";

/// The rustdoc JSON format the pinned `public-api` reads (its `rustdoc-types` 0.57).
const FORMAT_VERSION: u64 = 57;

/// When xtask was started as `RUSTDOC` by [`run`], runs the real rustdoc with unstable
/// options allowed and returns its exit code; otherwise `None`.
pub fn as_rustdoc() -> Option<std::process::ExitCode> {
    let real = std::env::var_os(REAL_RUSTDOC)?;
    let status = std::process::Command::new(real)
        .args(std::env::args_os().skip(1))
        .env("RUSTC_BOOTSTRAP", "1")
        .status();
    Some(match status {
        Ok(s) if s.success() => std::process::ExitCode::SUCCESS,
        Ok(s) => std::process::ExitCode::from(u8::try_from(s.code().unwrap_or(1)).unwrap_or(1)),
        Err(e) => {
            eprintln!("xtask (as rustdoc): cannot start rustdoc: {e}");
            std::process::ExitCode::FAILURE
        }
    })
}

pub fn run_command(args: &[String]) -> Result {
    let bless = match args {
        [] => false,
        [flag] if flag == "--bless" => true,
        other => return Err(format!("`xtask api` takes only --bless (got {other:?})")),
    };
    let rendered = render_all()?;
    let exhaustive = check_exhaustive(&rendered);
    let dir = root().join("api");
    if bless {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (name, text, _) in &rendered {
            let path = snapshot_path(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        eprintln!("xtask api: wrote {} snapshot(s) in api/", rendered.len());
        return exhaustive;
    }
    let mut failures = String::new();
    if let Err(e) = exhaustive {
        failures.push_str(&format!("\n{e}"));
    }
    for (name, text, _) in &rendered {
        let path = snapshot_path(name);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(diff) = diff(&old, text) {
            failures.push_str(&format!(
                "\napi/{name}.txt differs from {name}'s public API:\n{diff}"
            ));
        }
    }
    if failures.is_empty() {
        eprintln!(
            "xtask api: the public API of {} crate(s) matches api/",
            rendered.len()
        );
        Ok(())
    } else {
        Err(format!(
            "public API changed{failures}\nIf the change is deliberate: `cargo xtask api --bless` \
             and commit api/ (users of a published crate see it as a new version's change)."
        ))
    }
}

fn snapshot_path(name: &str) -> PathBuf {
    root().join("api").join(format!("{name}.txt"))
}

/// The hand-kept list of public types that stay exhaustive on purpose, one path per line
/// with the reason after `#` (plain data whose shape a specification fixes).
const EXHAUSTIVE_LIST: &str = "api/exhaustive.txt";

/// Public structs whose name ends so are options or configurations: they grow, so none may
/// be exhaustive, listed or not (a new field must compile for the examples and for
/// downstream crates).
const GROWING_SUFFIXES: &[&str] = &["Options", "Config", "Settings"];

/// Every public struct a user can build with a literal, and every enum they can match
/// without a wildcard, must be listed in [`EXHAUSTIVE_LIST`]: all others are
/// `#[non_exhaustive]`, so examples, tests, benches and downstream crates (all outside the
/// crate) can only use constructors, and a new field or variant cannot break them. Options,
/// configurations and settings ([`GROWING_SUFFIXES`]) may not be listed.
fn check_exhaustive(rendered: &[(String, String, Vec<Exhaustive>)]) -> Result {
    let path = root().join(EXHAUSTIVE_LIST);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let listed: BTreeSet<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    let found: BTreeSet<&str> = rendered
        .iter()
        .flat_map(|(_, _, e)| e.iter().map(|e| e.path.as_str()))
        .collect();
    let mut text = String::new();
    for e in rendered.iter().flat_map(|(_, _, e)| e) {
        let name = e.path.rsplit("::").next().unwrap_or(&e.path);
        if e.is_struct && GROWING_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            text.push_str(&format!(
                "  {}: options, configurations and settings grow: mark it #[non_exhaustive] \
                 with a constructor or Default (a listing in {EXHAUSTIVE_LIST} does not do)\n",
                e.path
            ));
        }
    }
    for p in found.difference(&listed) {
        text.push_str(&format!(
            "  {p}: exhaustive (buildable with a literal or matchable without `_`): mark it \
             #[non_exhaustive] with a constructor, or list it in {EXHAUSTIVE_LIST} with the reason\n"
        ));
    }
    for p in listed.difference(&found) {
        text.push_str(&format!(
            "  {p}: listed in {EXHAUSTIVE_LIST} but not an exhaustive public type: remove the line\n"
        ));
    }
    if text.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "types that can grow must be #[non_exhaustive]:\n{text}"
        ))
    }
}

/// An exhaustive public type, by the path the snapshot names it with (a type re-exported
/// under two paths is found under both).
#[derive(Debug, PartialEq, Eq)]
struct Exhaustive {
    path: String,
    is_struct: bool,
}

/// Rustdoc JSON for every library (one cargo invocation): (crate, the snapshot text, its
/// exhaustive types).
fn render_all() -> Result<Vec<(String, String, Vec<Exhaustive>)>> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    // The same target directory as the other steps, so that the dependencies checked by
    // clippy and `cargo doc` are reused (only the library crates are documented anew).
    let rustdoc = std::env::var_os("RUSTDOC").unwrap_or_else(|| "rustdoc".into());
    let exe = std::env::current_exe().map_err(|e| format!("xtask api: {e}"))?;
    let mut cmd = cargo();
    cmd.args(["doc", "--no-deps", "--lib", "--all-features"]);
    for name in LIBRARIES {
        cmd.args(["-p", name]);
    }
    cmd.env("RUSTDOC", exe)
        .env(REAL_RUSTDOC, rustdoc)
        .env("RUSTDOCFLAGS", "-Z unstable-options --output-format json");
    run("rustdoc JSON", cmd)?;
    LIBRARIES
        .iter()
        .map(|name| {
            let json = target.join("doc").join(format!("{}.json", lib_name(name)?));
            let (text, types) = render(&json)?;
            let exhaustive = exhaustive_types(&json, &types)?;
            Ok(((*name).to_owned(), text, exhaustive))
        })
        .collect()
}

/// The name a package's library is `use`d by: its `[lib] name` where set (the renamed
/// `media-toolkit-*` packages keep their short library names), else the package name
/// with `_` for `-`. Read from the manifests as text: xtask has no TOML parser at run time.
pub fn lib_name(package: &str) -> Result<String> {
    let crates = root().join("crates");
    let dirs = std::fs::read_dir(&crates).map_err(|e| format!("{}: {e}", crates.display()))?;
    for dir in dirs.filter_map(|d| d.ok()) {
        let Ok(manifest) = std::fs::read_to_string(dir.path().join("Cargo.toml")) else {
            continue;
        };
        let name_in = |section: &str| {
            let body = manifest.split(section).nth(1)?;
            let body = body.split("\n[").next()?;
            body.lines()
                .find_map(|l| l.strip_prefix("name = \""))
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned)
        };
        if name_in("[package]").as_deref() == Some(package) {
            return Ok(name_in("\n[lib]").unwrap_or_else(|| package.replace('-', "_")));
        }
    }
    Err(format!(
        "no crate under {} is named {package}",
        crates.display()
    ))
}

/// The snapshot text, and each struct and enum line of it with the rustdoc id of its type
/// (a re-export's line carries the id of the type it names).
fn render(json: &Path) -> Result<(String, Vec<(String, u32)>)> {
    let text = std::fs::read_to_string(json).map_err(|e| format!("{}: {e}", json.display()))?;
    // "format_version": N is the last field; read it to name a toolchain mismatch clearly.
    let version = text
        .rsplit_once("\"format_version\":")
        .and_then(|(_, v)| v.trim_start().split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse::<u64>().ok());
    if version != Some(FORMAT_VERSION) {
        return Err(format!(
            "{}: rustdoc JSON format {version:?}, but the public-api crate in xtask reads {FORMAT_VERSION}: \
             build with the workspace's toolchain (rust-version) or move public-api to the matching version",
            json.display()
        ));
    }
    let api = public_api::Builder::from_rustdoc_json(json)
        // `impl<T> From<T> for T` and the like say nothing about the crate.
        .omit_blanket_impls(true)
        .build()
        .map_err(|e| format!("{}: {e}", json.display()))?;
    let mut out = String::new();
    let mut types = Vec::new();
    for item in api.items() {
        let line = item.to_string();
        if line.starts_with("pub struct ") || line.starts_with("pub enum ") {
            types.push((line.clone(), item.id().0));
        }
        out.push_str(&line);
        out.push('\n');
    }
    Ok((out, types))
}

/// The lines only in `old` (`-`) and only in `new` (`+`); `None` when equal. Items are
/// sorted by path, so a set difference reads like a diff.
fn diff(old: &str, new: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let before: BTreeSet<&str> = old.lines().collect();
    let after: BTreeSet<&str> = new.lines().collect();
    let mut text = String::new();
    for line in before.difference(&after) {
        text.push_str(&format!("  - {line}\n"));
    }
    for line in after.difference(&before) {
        text.push_str(&format!("  + {line}\n"));
    }
    if text.is_empty() {
        text.push_str("  (same items, different order)\n");
    }
    Some(text)
}

/// The public structs and enums of a crate that a user can build with a literal or match
/// exhaustively: not `#[non_exhaustive]`, and (structs) every field public. Adding a field
/// or variant to one of these breaks its users. `types` are the snapshot's struct and enum
/// lines with their ids: by id, not by name, as two types of one crate may share a name
/// (`data_stream::Chunk` and the protobuf `data_stream::wire::Chunk`).
fn exhaustive_types(json: &Path, types: &[(String, u32)]) -> Result<Vec<Exhaustive>> {
    let text = std::fs::read_to_string(json).map_err(|e| format!("{}: {e}", json.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
    let mut open_ids = BTreeSet::new();
    for (id, item) in doc["index"].as_object().into_iter().flatten() {
        if item["crate_id"] != 0 || item["visibility"] != "public" {
            continue;
        }
        let non_exhaustive = item["attrs"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "non_exhaustive"));
        let inner = &item["inner"];
        let literal = if let Some(s) = inner.get("struct") {
            let kind = &s["kind"];
            if let Some(plain) = kind.get("plain") {
                plain["has_stripped_fields"] == false
                    && plain["fields"].as_array().is_some_and(|f| !f.is_empty())
            } else if let Some(tuple) = kind.get("tuple") {
                tuple
                    .as_array()
                    .is_some_and(|f| !f.is_empty() && f.iter().all(|x| !x.is_null()))
            } else {
                false // a unit struct: a marker, nothing to add
            }
        } else {
            inner.get("enum").is_some()
        };
        if literal
            && !non_exhaustive
            && let Ok(id) = id.parse::<u32>()
        {
            open_ids.insert(id);
        }
    }
    // The snapshot's lines name the public paths: `pub struct a::b::Name`, `pub enum …`.
    let mut found = Vec::new();
    for (line, id) in types {
        if !open_ids.contains(id) {
            continue;
        }
        let (path, is_struct) = match line.strip_prefix("pub struct ") {
            Some(path) => (path, true),
            None => (line.strip_prefix("pub enum ").unwrap_or(line), false),
        };
        let path = path.split(['<', '(', ' ']).next().unwrap_or(path);
        found.push(Exhaustive {
            path: path.to_owned(),
            is_struct,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rustdoc JSON (format 57) of a crate `k` with: an open struct (all fields public), a
    /// `#[non_exhaustive]` one, one with a private field, an enum, a `#[non_exhaustive]`
    /// enum, a unit struct, a tuple struct with a private field, and two structs named
    /// `Chunk`: a `#[non_exhaustive]` one and an open one in another module.
    const JSON: &str = r#"{"index": {
        "1": {"crate_id": 0, "visibility": "public", "name": "Open", "attrs": [],
              "inner": {"struct": {"kind": {"plain": {"fields": [9], "has_stripped_fields": false}}}}},
        "2": {"crate_id": 0, "visibility": "public", "name": "Grows", "attrs": ["non_exhaustive"],
              "inner": {"struct": {"kind": {"plain": {"fields": [9], "has_stripped_fields": false}}}}},
        "3": {"crate_id": 0, "visibility": "public", "name": "Sealed", "attrs": [],
              "inner": {"struct": {"kind": {"plain": {"fields": [9], "has_stripped_fields": true}}}}},
        "4": {"crate_id": 0, "visibility": "public", "name": "Mode", "attrs": [],
              "inner": {"enum": {"variants": []}}},
        "5": {"crate_id": 0, "visibility": "public", "name": "Kind", "attrs": ["non_exhaustive"],
              "inner": {"enum": {"variants": []}}},
        "6": {"crate_id": 0, "visibility": "public", "name": "Marker", "attrs": [],
              "inner": {"struct": {"kind": "unit"}}},
        "7": {"crate_id": 0, "visibility": "public", "name": "Pair", "attrs": [],
              "inner": {"struct": {"kind": {"tuple": [9, null]}}}},
        "10": {"crate_id": 0, "visibility": "public", "name": "Chunk", "attrs": ["non_exhaustive"],
              "inner": {"struct": {"kind": {"plain": {"fields": [9], "has_stripped_fields": false}}}}},
        "11": {"crate_id": 0, "visibility": "public", "name": "Chunk", "attrs": [],
              "inner": {"struct": {"kind": {"plain": {"fields": [9], "has_stripped_fields": false}}}}}
    }, "format_version": 57}"#;

    #[test]
    fn exhaustive_types_are_those_a_user_can_build_or_match_fully() {
        let path = std::env::temp_dir().join(format!("xtask-api-{}.json", std::process::id()));
        std::fs::write(&path, JSON).unwrap();
        let types: Vec<(String, u32)> = [
            ("pub struct k::Open", 1),
            ("pub struct k::Grows", 2),
            ("pub struct k::Sealed", 3),
            ("pub enum k::Mode", 4),
            ("pub enum k::Kind", 5),
            ("pub struct k::Marker", 6),
            ("pub struct k::Pair(_, pub u8)", 7),
            // A re-export names the same type twice; the open `Chunk` shares the name.
            ("pub struct k::Chunk", 10),
            ("pub struct k::packet::Chunk", 10),
            ("pub struct k::wire::Chunk", 11),
        ]
        .into_iter()
        .map(|(line, id)| (line.to_owned(), id))
        .collect();
        let found = exhaustive_types(&path, &types);
        let _ = std::fs::remove_file(&path);
        let found: Vec<(String, bool)> = found
            .unwrap()
            .into_iter()
            .map(|e| (e.path, e.is_struct))
            .collect();
        assert_eq!(
            found,
            [
                ("k::Open".to_owned(), true),
                ("k::Mode".to_owned(), false),
                ("k::wire::Chunk".to_owned(), true)
            ]
        );
    }

    #[test]
    fn options_configs_and_settings_may_not_be_exhaustive() {
        let exhaustive = |path: &str, is_struct| Exhaustive {
            path: path.to_owned(),
            is_struct,
        };
        let rendered = vec![(
            "k".to_owned(),
            String::new(),
            vec![
                exhaustive("k::CameraConfig", true),
                exhaustive("k::io::FileSettings", true),
                exhaustive("k::ModeOptions", false),
            ],
        )];
        let e = check_exhaustive(&rendered).unwrap_err();
        assert!(
            e.contains("k::CameraConfig: options, configurations"),
            "{e}"
        );
        assert!(
            e.contains("k::io::FileSettings: options, configurations"),
            "{e}"
        );
        // An enum of choices is not a set of options (it may be listed with a reason).
        assert!(
            !e.contains("k::ModeOptions: options, configurations"),
            "{e}"
        );
    }

    #[test]
    fn the_diff_names_added_and_removed_items() {
        assert_eq!(diff("a\nb\n", "a\nb\n"), None);
        assert_eq!(
            diff("pub fn k::f()\n", "pub fn k::f(u8)\n").unwrap(),
            "  - pub fn k::f()\n  + pub fn k::f(u8)\n"
        );
    }
}
