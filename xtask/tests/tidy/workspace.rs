//! The workspace as the tidy rules see it: members and their dependencies, read from the
//! Cargo.toml files with a TOML parser.

use std::path::{Path, PathBuf};

use toml_edit::{Document, Item, TableLike};

/// The workspace root (xtask's parent directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent")
        .to_path_buf()
}

/// A parsed Cargo.toml.
pub fn manifest(path: &Path) -> Document<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("tidy: cannot read {}: {e}", path.display()));
    Document::parse(text).unwrap_or_else(|e| panic!("tidy: {} is not TOML: {e}", path.display()))
}

/// What kind of dependency table an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Dev,
    Build,
}

/// One dependency entry of a member.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// The package it names (`package = …` when renamed, else the key).
    pub package: String,
    pub kind: Kind,
    /// The table it is in, as written (`dependencies`, `target.'cfg(unix)'.dev-dependencies`).
    pub table: String,
    /// `workspace = true`.
    pub inherited: bool,
}

/// One workspace member.
pub struct Member {
    pub name: String,
    /// Directory relative to the root, with `/` (`crates/mp3-frames`).
    pub dir: String,
    pub manifest: Document<String>,
    pub dependencies: Vec<Dependency>,
}

impl Member {
    pub fn path(&self) -> PathBuf {
        root().join(&self.dir)
    }
    pub fn manifest_path(&self) -> String {
        format!("{}/Cargo.toml", self.dir)
    }
}

/// The members listed in the root Cargo.toml's `[workspace] members` (a trailing `/*` is
/// expanded to the directories with a Cargo.toml).
pub fn members() -> Vec<Member> {
    let root = root();
    let doc = manifest(&root.join("Cargo.toml"));
    let list = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(Item::as_array)
        .expect("tidy: the root Cargo.toml has [workspace] members");
    let mut dirs = Vec::new();
    for entry in list.iter().filter_map(|v| v.as_str()) {
        if let Some(parent) = entry.strip_suffix("/*") {
            let mut found: Vec<String> = std::fs::read_dir(root.join(parent))
                .expect("members glob directory")
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("Cargo.toml").is_file())
                .map(|e| format!("{parent}/{}", e.file_name().to_string_lossy()))
                .collect();
            found.sort();
            dirs.extend(found);
        } else {
            dirs.push(entry.to_owned());
        }
    }
    dirs.into_iter()
        .map(|dir| {
            let manifest = manifest(&root.join(&dir).join("Cargo.toml"));
            let name = manifest
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(Item::as_str)
                .unwrap_or_else(|| panic!("tidy: {dir}/Cargo.toml has no package.name"))
                .to_owned();
            let dependencies = dependencies(manifest.as_table());
            Member {
                name,
                dir,
                manifest,
                dependencies,
            }
        })
        .collect()
}

/// Every entry of `[dependencies]`, `[dev-dependencies]`, `[build-dependencies]` and their
/// `[target.'…'.*]` forms.
fn dependencies(doc: &dyn TableLike) -> Vec<Dependency> {
    let mut out = Vec::new();
    let mut read = |table: &dyn TableLike, prefix: &str| {
        for (key, kind) in [
            ("dependencies", Kind::Normal),
            ("dev-dependencies", Kind::Dev),
            ("dev_dependencies", Kind::Dev),
            ("build-dependencies", Kind::Build),
            ("build_dependencies", Kind::Build),
        ] {
            let Some(deps) = table.get(key).and_then(Item::as_table_like) else {
                continue;
            };
            for (name, item) in deps.iter() {
                let spec = item.as_table_like();
                let field = |f: &str| spec.and_then(|s| s.get(f));
                out.push(Dependency {
                    package: field("package")
                        .and_then(Item::as_str)
                        .unwrap_or(name)
                        .to_owned(),
                    kind,
                    table: format!("{prefix}{key}"),
                    inherited: field("workspace").and_then(Item::as_bool) == Some(true),
                });
            }
        }
    };
    read(doc, "");
    if let Some(targets) = doc.get("target").and_then(Item::as_table_like) {
        for (cfg, table) in targets.iter() {
            if let Some(table) = table.as_table_like() {
                read(table, &format!("target.'{cfg}'."));
            }
        }
    }
    out
}

/// Every `.rs` file under `dir` (relative to the root, `/`-separated, sorted), skipping
/// `target` directories.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                if e.file_name() != "target" {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `path` relative to the root, with `/`.
pub fn relative(path: &Path) -> String {
    let root = root();
    let rel = path.strip_prefix(&root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
