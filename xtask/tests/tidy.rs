//! Tidy: the workspace's house rules (see shared DESIGN.md), checked by `cargo test -p xtask`
//! and so by `cargo xtask test`. After rust-analyzer's `xtask/src/tidy.rs`.
//!
//! Each rule is one test. A rule that is broken today and being fixed elsewhere lists the
//! breach in [`KNOWN_VIOLATIONS`]; an entry that no longer occurs fails the rule too, so the
//! list only shrinks.
#![allow(clippy::unwrap_used)]

#[path = "tidy/graph.rs"]
mod graph;
#[path = "tidy/modules.rs"]
mod modules;
#[path = "tidy/workspace.rs"]
mod workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use toml_edit::Item;
use workspace::{Kind, members, relative, root, rust_files};

/// The leaf crates: each does one media job and stands alone.
const LEAVES: &[&str] = &[
    "media-toolkit-core",
    "bmff-writer",
    "mp3-frames",
    "rtsp-source",
    "media-toolkit-data-stream",
    "icecast-source",
    "media-toolkit-remote",
    "elementary",
    "media-toolkit-mpeg-ts",
    "media-toolkit-flv",
    "media-toolkit-matroska",
    "rtp-media",
    "media-toolkit-codec",
    "whip-whep",
    "media-toolkit-rtsp-server",
];

/// Which workspace crates each workspace crate may depend on (normal and build
/// dependencies; optional ones too). Dev-dependencies may also name `test-support` and the
/// crate itself. A crate missing here fails [`crate_dependencies_follow_the_table`].
const DEPENDENCY_TABLE: &[(&str, &[&str])] = &[
    ("media-toolkit-core", &[]),
    ("mp3-frames", &["media-toolkit-core"]),
    ("bmff-writer", &["media-toolkit-core"]),
    ("media-toolkit-data-stream", &["media-toolkit-core"]),
    ("rtsp-source", &["media-toolkit-core"]),
    ("icecast-source", &["media-toolkit-core", "mp3-frames"]),
    (
        "media-toolkit-remote",
        &["media-toolkit-core", "media-toolkit-data-stream"],
    ),
    ("elementary", &[]),
    ("media-toolkit-mpeg-ts", &[]),
    ("media-toolkit-flv", &[]),
    ("media-toolkit-matroska", &[]),
    // RTP payload formats, sender reports and SDP; stands alone.
    ("rtp-media", &[]),
    // Decoding and encoding on the system FFmpeg; `elementary` for Annex B and records.
    ("media-toolkit-codec", &["media-toolkit-core", "elementary"]),
    // WebRTC (WHEP/WHIP) on str0m; stands alone.
    // WebRTC; its batched UDP sends are rtp-media's (shared with the RTSP server).
    ("whip-whep", &["rtp-media"]),
    // The RTSP server; its packets and SDP sections are rtp-media's.
    ("media-toolkit-rtsp-server", &["rtp-media"]),
    ("media-toolkit-pipeline", LEAVES),
    // The NVR layer: many supervised pipelines from one configuration.
    (
        "media-toolkit-nvr",
        &[
            "media-toolkit-pipeline",
            "media-toolkit-core",
            "media-toolkit-matroska",
        ],
    ),
    (
        "media-toolkit-cli",
        &[
            "media-toolkit-nvr",
            "media-toolkit-pipeline",
            "media-toolkit-core",
            "bmff-writer",
            "mp3-frames",
            "rtsp-source",
            "media-toolkit-data-stream",
            "icecast-source",
            "media-toolkit-remote",
            "elementary",
            // Dev-dependency: the WHEP benches' viewers.
            "whip-whep",
        ],
    ),
    // The Python bindings (module `media_toolkit`): the pipeline and its neutral types.
    (
        "pipeline-py",
        &[
            "media-toolkit-pipeline",
            "media-toolkit-core",
            "media-toolkit-data-stream",
        ],
    ),
    ("test-support", LEAVES),
    // xtask shares test-support's peer list through #[path], not as a dependency.
    ("xtask", &[]),
];

/// Command-line dependencies: for binaries, never in a library.
const CLI_DEPENDENCIES: &[&str] = &[
    "clap",
    "indicatif",
    "tracing-subscriber",
    "anyhow",
    "env_logger",
];
/// The crates whose normal dependencies may include [`CLI_DEPENDENCIES`]: binaries only.
const CLI_CRATES: &[&str] = &["media-toolkit-cli", "xtask"];

/// Crates under crates/ that are internal (not published, no README or example needed).
/// Each must say `publish = false` in its own Cargo.toml.
const INTERNAL_CRATES: &[&str] = &["test-support"];

/// Python extension crates: cargo cannot link them alone (libpython comes with the
/// interpreter), so their runnable example is `examples/*.py`, run by their pytest suite.
const PYTHON_CRATES: &[&str] = &["pipeline-py"];

/// The most lines one source file may have (DESIGN.md: "a file over ~600 lines holds two").
const MAX_LINES: usize = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    CrateDependencies,
    CliDependencies,
    WorkspaceDependencies,
    ReadmeAndExample,
    FileLength,
    ModuleCycles,
    ApiSnapshots,
}

/// Breaches of a rule known today and being fixed on other branches: (rule, subject, why).
/// The subject is what the rule reports: a crate, `crate/dependency`, a file, or a cycle.
const KNOWN_VIOLATIONS: &[(Rule, &str, &str)] = &[];

/// Fails naming every breach of `rule` not in [`KNOWN_VIOLATIONS`], and every known entry
/// of `rule` that no longer occurs. `found` is (subject, message naming file and rule).
fn report(rule: Rule, found: Vec<(String, String)>) {
    let known: Vec<&(Rule, &str, &str)> = KNOWN_VIOLATIONS.iter().filter(|k| k.0 == rule).collect();
    let mut text = String::new();
    for (subject, message) in &found {
        if !known.iter().any(|k| k.1 == subject) {
            let _ = writeln!(text, "  {message}");
        }
    }
    for (_, subject, why) in known {
        if !found.iter().any(|(s, _)| s == subject) {
            let _ = writeln!(
                text,
                "  KNOWN_VIOLATIONS in xtask/tests/tidy.rs lists ({rule:?}, {subject:?}) ({why}), \
                 but it no longer occurs: remove the entry"
            );
        }
    }
    assert!(text.is_empty(), "tidy rule {rule:?} failed:\n{text}");
}

fn allowed(name: &str) -> Option<&'static [&'static str]> {
    DEPENDENCY_TABLE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| *a)
}

#[test]
fn crate_dependencies_follow_the_table() {
    let members = members();
    let names: BTreeSet<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let mut found = Vec::new();
    let mut graph = graph::Graph::new();
    for m in &members {
        graph.entry(m.name.clone()).or_default();
        let Some(allowed) = allowed(&m.name) else {
            found.push((
                m.name.clone(),
                format!(
                    "{}: add crate {} to the dependency table in xtask/tests/tidy.rs \
                     (DEPENDENCY_TABLE: which workspace crates it may depend on)",
                    m.manifest_path(),
                    m.name
                ),
            ));
            continue;
        };
        for d in m
            .dependencies
            .iter()
            .filter(|d| names.contains(d.package.as_str()))
        {
            let dev_extra =
                d.kind == Kind::Dev && (d.package == "test-support" || d.package == m.name);
            if !allowed.contains(&d.package.as_str()) && !dev_extra {
                found.push((
                    m.name.clone(),
                    format!(
                        "{}: [{}] {} may not depend on {} (crate dependency table in xtask/tests/tidy.rs)",
                        m.manifest_path(),
                        d.table,
                        m.name,
                        d.package
                    ),
                ));
            }
            // Cycles: every edge but a dev-dependency on itself or on test-support (which
            // exists for tests and may use the leaves it tests).
            if !dev_extra {
                graph::add_edge(&mut graph, &m.name, &d.package);
            }
        }
    }
    for cycle in graph::cycles(&graph) {
        found.push((
            cycle.join(", "),
            format!(
                "Cargo.toml files of {}: the crates depend on each other in a cycle",
                cycle.join(", ")
            ),
        ));
    }
    report(Rule::CrateDependencies, found);
}

#[test]
fn no_cli_dependencies_in_libraries() {
    let mut found = Vec::new();
    for m in members() {
        if CLI_CRATES.contains(&m.name.as_str()) {
            continue;
        }
        let cli: Vec<&str> = m
            .dependencies
            .iter()
            .filter(|d| d.kind != Kind::Dev && CLI_DEPENDENCIES.contains(&d.package.as_str()))
            .map(|d| d.package.as_str())
            .collect();
        if !cli.is_empty() {
            found.push((
                m.name.clone(),
                format!(
                    "{}: {} depends on CLI crates {cli:?}; only {CLI_CRATES:?} (binaries) may, \
                     others only as dev-dependencies (rule: no CLI dependencies in libraries)",
                    m.manifest_path(),
                    m.name
                ),
            ));
        }
    }
    report(Rule::CliDependencies, found);
}

#[test]
fn dependencies_come_from_the_workspace_table() {
    let mut found = Vec::new();
    for m in members() {
        for d in m.dependencies.iter().filter(|d| !d.inherited) {
            found.push((
                format!("{}/{}", m.name, d.package),
                format!(
                    "{}: [{}] {} does not use `workspace = true`; add it to \
                     [workspace.dependencies] in the root Cargo.toml (rule: workspace dependencies)",
                    m.manifest_path(),
                    d.table,
                    d.package
                ),
            ));
        }
    }
    report(Rule::WorkspaceDependencies, found);
}

/// Whether `examples/` holds a Python script (for [`PYTHON_CRATES`]).
fn has_python_example(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("examples")).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "py"))
    })
}

/// Whether a `//!` doc has a code block that rustdoc runs (not `no_run`, `ignore`,
/// `compile_fail`, or another language).
fn has_running_doctest(lib: &str) -> bool {
    let mut in_block = false;
    for line in lib
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
    {
        let Some(info) = line.trim().strip_prefix("```") else {
            continue;
        };
        if in_block {
            in_block = false;
            continue;
        }
        in_block = true;
        let runs = info
            .split(',')
            .map(str::trim)
            .all(|tag| matches!(tag, "" | "rust" | "should_panic") || tag.starts_with("edition"));
        if runs {
            return true;
        }
    }
    false
}

#[test]
fn crates_have_readme_and_runnable_example() {
    let mut found = Vec::new();
    for m in members().iter().filter(|m| m.dir.starts_with("crates/")) {
        let dir = m.path();
        if INTERNAL_CRATES.contains(&m.name.as_str()) {
            let own_publish = m
                .manifest
                .get("package")
                .and_then(|p| p.get("publish"))
                .and_then(Item::as_bool);
            if own_publish != Some(false) {
                found.push((
                    m.name.clone(),
                    format!("{}: internal crate {} must say `publish = false` (rule: README and example)", m.manifest_path(), m.name),
                ));
            }
            continue;
        }
        if !dir.join("README.md").is_file() {
            found.push((
                m.name.clone(),
                format!("{}/README.md: missing (rule: README and example)", m.dir),
            ));
        }
        let example_file = !rust_files(&dir.join("examples")).is_empty()
            || (PYTHON_CRATES.contains(&m.name.as_str()) && has_python_example(&dir));
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).ok();
        let doctest = lib.as_deref().is_some_and(has_running_doctest);
        // A binary-only crate (no src/lib.rs) is its own runnable example.
        let binary_only =
            lib.is_none() && (dir.join("src/main.rs").is_file() || m.manifest.get("bin").is_some());
        if !(example_file || doctest || binary_only) {
            found.push((
                m.name.clone(),
                format!(
                    "{}: no runnable example: add examples/*.rs or a `//!` code block in \
                     src/lib.rs that is not no_run/ignore (rule: README and example)",
                    m.dir
                ),
            ));
        }
    }
    report(Rule::ReadmeAndExample, found);
}

#[test]
fn source_files_are_short() {
    let root = root();
    let mut dirs = vec![root.join("xtask"), root.join("fuzz/src")];
    for m in members().iter().filter(|m| m.dir.starts_with("crates/")) {
        for sub in ["src", "tests", "benches", "examples"] {
            dirs.push(m.path().join(sub));
        }
    }
    let mut found = Vec::new();
    for file in dirs.iter().flat_map(|d| rust_files(d)) {
        let lines = std::fs::read_to_string(&file)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines > MAX_LINES {
            let rel = relative(&file);
            found.push((
                rel.clone(),
                format!(
                    "{rel}: {lines} lines, over {MAX_LINES}: split it by topic (rule: file length)"
                ),
            ));
        }
    }
    report(Rule::FileLength, found);
}

/// The module path of a file under `src/` (`foo.rs`, `foo/mod.rs` → `[foo]`;
/// `foo/bar.rs` → `[foo, bar]`); the crate root files give `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !(stem == "mod" || (parts.is_empty() && (stem == "lib" || stem == "main"))) {
        parts.push(stem.to_owned());
    }
    parts
}

/// The cycles among modules of one crate's `src/`, as (subject, message).
fn module_cycles(crate_name: &str, src: &Path) -> Vec<(String, String)> {
    let files: Vec<_> = rust_files(src)
        .into_iter()
        .filter(|f| !f.starts_with(src.join("bin")))
        .collect();
    let mut texts = BTreeMap::new();
    let mut test_only = BTreeSet::new();
    for f in &files {
        let raw = std::fs::read_to_string(f).unwrap();
        let (text, tests) = modules::without_tests(&raw);
        let dir = if f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs")
        {
            f.parent().unwrap().to_path_buf()
        } else {
            f.with_extension("")
        };
        for t in tests {
            test_only.insert(f.parent().unwrap().join(&t));
            test_only.insert(dir.join(&t));
        }
        texts.insert(f.clone(), text);
    }
    let modules: BTreeMap<_, _> = texts
        .iter()
        .filter(|(f, _)| !test_only.contains(*f))
        .map(|(f, t)| (module_path(src, f), (f.clone(), t)))
        .collect();
    // One graph per directory: key [] is the crate's top-level modules, [foo] is src/foo/.
    let mut graphs: BTreeMap<Vec<String>, graph::Graph> = BTreeMap::new();
    let mut evidence: BTreeMap<(Vec<String>, String, String), String> = BTreeMap::new();
    for (from, (file, text)) in &modules {
        for (supers, path) in modules::paths(text) {
            if supers > from.len() {
                continue;
            }
            // `crate::` (supers = 0) starts at the root, each `super::` one level up.
            let mut target: Vec<String> = if supers == 0 {
                Vec::new()
            } else {
                from[..from.len() - supers].to_vec()
            };
            target.extend(path);
            // The module it names: the longest prefix that is a module file.
            while !target.is_empty() && !modules.contains_key(&target) {
                target.pop();
            }
            let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if from.len() > common && target.len() > common {
                let dir = from[..common].to_vec();
                graph::add_edge(
                    graphs.entry(dir.clone()).or_default(),
                    &from[common],
                    &target[common],
                );
                evidence
                    .entry((dir, from[common].clone(), target[common].clone()))
                    .or_insert_with(|| relative(file));
            }
        }
    }
    let mut found = Vec::new();
    for (dir, g) in &graphs {
        for cycle in graph::cycles(g) {
            let place = if dir.is_empty() {
                crate_name.to_owned()
            } else {
                format!("{crate_name}/src/{}", dir.join("/"))
            };
            let mut why = String::new();
            for ((d, a, b), file) in &evidence {
                if d == dir && cycle.contains(a) && cycle.contains(b) {
                    let _ = write!(why, "\n      {a} -> {b} (in {file})");
                }
            }
            found.push((
                format!("{place}: {}", cycle.join(", ")),
                format!(
                    "{}: modules {} import each other in a cycle (rule: module cycles):{why}",
                    relative(src),
                    cycle.join(" <-> ")
                ),
            ));
        }
    }
    found
}

#[test]
fn no_import_cycles_between_modules() {
    let mut found = Vec::new();
    for m in members() {
        let src = m.path().join("src");
        if src.is_dir() {
            found.extend(module_cycles(&m.name, &src));
        }
    }
    report(Rule::ModuleCycles, found);
}

#[test]
fn doctest_detection() {
    assert!(has_running_doctest(
        "//! Intro\n//! ```\n//! let x = 1;\n//! ```\n"
    ));
    assert!(!has_running_doctest(
        "//! ```no_run\n//! x\n//! ```\n//! ```text\n//! y\n//! ```\n"
    ));
    assert!(has_running_doctest(
        "//! ```text\n//! y\n//! ```\n//! ```rust\n//! z\n//! ```\n"
    ));
    assert_eq!(
        module_path(Path::new("src"), Path::new("src/remote/mod.rs")),
        ["remote"]
    );
    assert_eq!(
        module_path(Path::new("src"), Path::new("src/remote/queue.rs")),
        ["remote", "queue"]
    );
    assert!(module_path(Path::new("src"), Path::new("src/lib.rs")).is_empty());
}

/// Each library crate's public API is kept in `api/<crate>.txt`, which `cargo xtask test`
/// compares with the API rustdoc sees (`cargo xtask api`; `--bless` after a deliberate
/// change). The comparison needs rustdoc, so it is an xtask step rather than this test;
/// this test makes sure no library is left out of it (`LIBRARIES` in xtask/src/api.rs).
#[test]
fn every_library_has_an_api_snapshot() {
    let api = root().join("api");
    let mut found = Vec::new();
    let mut expected = BTreeSet::new();
    for m in members().iter().filter(|m| m.dir.starts_with("crates/")) {
        // A Python extension's API is its Python module (stubs and pytest check it).
        if INTERNAL_CRATES.contains(&m.name.as_str())
            || PYTHON_CRATES.contains(&m.name.as_str())
            || !m.path().join("src/lib.rs").is_file()
        {
            continue;
        }
        let file = format!("{}.txt", m.name);
        if !api.join(&file).is_file() {
            found.push((
                m.name.clone(),
                format!(
                    "api/{file}: missing: add {} to LIBRARIES in xtask/src/api.rs and run \
                     `cargo xtask api --bless` (rule: API snapshots)",
                    m.name
                ),
            ));
        }
        expected.insert(file);
    }
    expected.insert("exhaustive.txt".to_owned());
    for entry in std::fs::read_dir(&api).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !expected.contains(&name) {
            found.push((
                format!("api/{name}"),
                format!(
                    "api/{name}: no library crate of that name: remove it (rule: API snapshots)"
                ),
            ));
        }
    }
    report(Rule::ApiSnapshots, found);
}
